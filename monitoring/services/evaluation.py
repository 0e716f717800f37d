"""Running the monitors: every few seconds, each over the rollup buckets completed since it
last ran; a shift raises an alert, a signal back in its band resolves it.

Monitor kinds not counted in the rollups (`Monitor.EXTERNAL_KINDS`: accuracy, from the
reviews) are evaluated by the app that holds their data, which registers an evaluator for
the kind in its `AppConfig.ready()`:

    register_evaluator(Monitor.Kind.ACCURACY, accuracy_evaluate)

An evaluator is called as `evaluate(monitor, through, now)` inside the system's
transaction, sets the monitor's status (and baseline) and ends with `evaluation_save`,
answering its outcome ("raised", "resolved", or "")."""

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from monitoring import rollups
from monitoring.detectors.cusum import false_alarms_per_event
from monitoring.detectors.mixture import mixture_start, mixture_statistic, mixture_update
from monitoring.detectors.shapes import shape_shift
from monitoring.models import Monitor, Rollup
from monitoring.selectors.signals import (
    RETURN_WINDOW,
    back_in_band,
    baseline_value,
    events_per_day,
    observed,
    signal_counts,
    value_of,
)
from monitoring.services.alerts import alert_raise, alert_resolve
from monitoring.services.baselines import baselines_refresh
from monitoring.services.monitors import baseline_enough, detector_calibrate
from monitoring.services.shards import claims_open, systems_claim, systems_release
from systems.models import AISystem

logger = logging.getLogger(__name__)

MIN_CURRENT_EVENTS = 200
SHAPE_EVERY = timedelta(seconds=30)

Evaluator = Callable[[Monitor, datetime, datetime], str]
EVALUATORS: dict[str, Evaluator] = {}


def register_evaluator(kind: str, evaluate: Evaluator) -> None:
    """Evaluate monitors of `kind` with `evaluate` (see the module's docstring)."""
    EVALUATORS[kind] = evaluate


def monitors_evaluate(now: datetime | None = None, *, shard: int = 0, shards: int = 1) -> dict:
    """Run every enabled monitor of the shard's systems over the rollup buckets completed
    since it last ran (`services.shards`: each system claimed by one worker at a time).

    Called by beat every few seconds, once per shard. Each monitor's progress
    (`evaluated_through`) is claimed with a conditional UPDATE too, so two evaluations
    running at once count each bucket once and raise one alert."""
    now = now or timezone.now()
    width = settings.FAILSAFE_ROLLUP_SECONDS
    through = rollups.bucket_of(
        now - timedelta(seconds=settings.FAILSAFE_EVALUATION_LAG_SECONDS), width
    )
    summary = {"monitors": 0, "alerts": 0, "resolved": 0}
    started = timezone.now()
    claims_open(shard, shards)
    while ids := systems_claim(shard, shards, started):
        evaluated = False
        try:
            _systems_evaluate(ids, now, through, summary)
            evaluated = True
        finally:
            systems_release(ids, evaluated=evaluated)
    return summary


def _systems_evaluate(ids: list[int], now: datetime, through: datetime, summary: dict) -> None:
    monitors = list(Monitor.objects.filter(enabled=True, system_id__in=ids))
    # Each system loaded once, not once per monitor.
    systems = AISystem.objects.in_bulk(ids)
    by_system: dict = defaultdict(list)
    for monitor in monitors:
        monitor.system = systems[monitor.system_id]
        by_system[monitor.system_id].append(monitor)
    # One commit per batch of systems (a commit waits for the disk: per system it was most
    # of the time), and what the batch reads and writes is read and written for all of its
    # systems at once. A system whose evaluation raises is logged and left for the next run,
    # not its batch with it.
    with transaction.atomic():
        # Baselines first: the false-alarm budget is spread over the traffic they measure,
        # so a monitor leaving its learning period is calibrated for the real traffic.
        baselines_refresh(monitors, now)
        rows = _new_buckets(monitors, through)
        windows = _shape_windows(monitors, through, now)
        judged = []
        for system_id, of_system in by_system.items():
            try:
                judged += _system_judge(of_system, rows, windows, through, now)
            except Exception:
                logger.exception("evaluating the monitors of system %s", system_id)
        outcomes = [o for o in judged if isinstance(o, str)]
        outcomes += evaluations_save([j for j in judged if not isinstance(j, str)], through, now)
    summary["monitors"] += len(monitors)
    summary["alerts"] += outcomes.count("raised")
    summary["resolved"] += outcomes.count("resolved")


def _system_judge(monitors, rows, windows, through, now) -> list:
    budget = _false_alarms_per_event(monitors)
    judged = [_evaluate(monitor, rows, windows, through, now, budget) for monitor in monitors]
    return [j for j in judged if j != ""]


def _new_buckets(monitors, through) -> dict:
    """(system, signal, key) → {bucket: events} for the rate monitors of a batch of systems:
    one query for the systems that ran last at the same time (in a steady state, all)."""
    rate = [m for m in monitors if m.is_rate and m.evaluated_through]
    rows: dict = defaultdict(lambda: defaultdict(int))
    since_of: dict = {}
    for m in rate:
        since_of[m.system_id] = min(
            since_of.get(m.system_id, m.evaluated_through), m.evaluated_through
        )
    by_since: dict = defaultdict(list)
    for system_id, since in since_of.items():
        by_since[since].append(system_id)
    wanted = {m.signal[0] for m in rate} | {m.denominator[0] for m in rate}
    for since, systems in by_since.items():
        for system_id, bucket, signal, key, n in (
            Rollup.objects.filter(
                system_id__in=systems, bucket__gte=since, bucket__lt=through, signal__in=wanted
            )
            .values_list("system_id", "bucket", "signal", "key")
            .annotate(total=Sum("n"))
            .values_list("system_id", "bucket", "signal", "key", "total")
        ):
            rows[system_id, signal, key][bucket] += n
    return rows


def _shape_tested(monitor: Monitor, through, now) -> bool:
    """Is the shape monitor tested this run? A shape is tested over minutes of traffic:
    every SHAPE_EVERY is often enough (but a baseline refreshed this run must be saved)."""
    claimed_through = monitor.evaluated_through
    return not (
        claimed_through is not None
        and through - claimed_through < SHAPE_EVERY
        and monitor.status != Monitor.Status.LEARNING
        and monitor.baseline_at != now
    )


def _shape_windows(monitors, through, now) -> dict:
    """monitor → the counts of its signal over its window, for the shape monitors tested
    this run: one query per window length, for every system of the batch."""
    tested = [
        m
        for m in monitors
        if m.kind not in Monitor.EXTERNAL_KINDS
        and not m.is_rate
        and _shape_tested(m, through, now)
        and m.status != Monitor.Status.FIRING
        and baseline_enough(m)
    ]
    by_window: dict = defaultdict(list)
    for monitor in tested:
        by_window[monitor.window_minutes].append(monitor)
    windows = {}
    for minutes, due in by_window.items():
        since = through - timedelta(minutes=minutes)
        systems, signals = {m.system_id for m in due}, {m.signal[0] for m in due}
        found = signal_counts(systems, signals, since, through)
        for monitor in due:
            of_system = found.get(monitor.system_id, {})
            signal = monitor.signal[0]
            windows[monitor.pk] = {k: n for (s, k), n in of_system.items() if s == signal}
    return windows


def _false_alarms_per_event(monitors) -> float:
    """The system's "false pages a month", per event, split across its monitors."""
    system = monitors[0].system
    per_day = max((events_per_day(m) for m in monitors), default=0.0)
    return false_alarms_per_event(system.false_pages_per_month, max(per_day, 1.0), len(monitors))


def _evaluate(monitor: Monitor, rows, windows, through, now, budget) -> "Judged | str":
    """What the run makes of one monitor, in memory: what to save (`Judged`), or the
    outcome of a registered evaluator (which saves itself), or "" (nothing to do)."""
    if monitor.kind in Monitor.EXTERNAL_KINDS:
        evaluate = EVALUATORS.get(monitor.kind)
        # Without its app installed, nothing feeds such a monitor: it is left as it is.
        if evaluate is None:
            return ""
        with transaction.atomic():
            return evaluate(monitor, through, now)
    claimed_through = monitor.evaluated_through
    if not monitor.is_rate and not _shape_tested(monitor, through, now):
        return ""
    firing = monitor.status == Monitor.Status.FIRING
    if not baseline_enough(monitor):
        monitor.status = Monitor.Status.LEARNING
        return Judged(monitor, claimed_through, None)
    if monitor.is_rate:
        detector = detector_calibrate(monitor, budget)
        fired = None
        if claimed_through is not None:
            signal, key = monitor.signal
            events = rows.get((monitor.system_id, *monitor.denominator), {})
            hits = rows.get((monitor.system_id, signal, key), {})
            for bucket in sorted(b for b in events if b >= claimed_through):
                state, shift = mixture_update(
                    detector, monitor.state, hits.get(bucket, 0), events[bucket], bucket.timestamp()
                )
                monitor.state = state
                if shift is not None and fired is None and not firing:
                    fired = _rate_evidence(monitor, detector, shift, bucket, now)
                    monitor.state = mixture_start(detector)
    else:
        fired = None if firing else _shape_evidence(monitor, windows[monitor.pk], through)
    if fired is not None:
        monitor.status = Monitor.Status.FIRING
    elif not firing:
        monitor.status = Monitor.Status.OK
    return Judged(monitor, claimed_through, fired)


def _rate_evidence(monitor, detector, shift: int, bucket, now) -> dict:
    chosen = detector.shifts[shift]
    zero_at = monitor.state[shift].get("zero_at")
    onset = datetime.fromtimestamp(zero_at, UTC) if zero_at else bucket
    # The current rate since the onset; when that is too few events to say, the last few
    # minutes (a rate from a handful of events would overstate it).
    n, found = observed(monitor, onset, now)
    if n < MIN_CURRENT_EVENTS:
        n, found = observed(monitor, min(onset, now - RETURN_WINDOW), now)
    current = found["x"] / n if n else None
    return {
        "kind": "rate",
        "baseline": detector.p0,
        "current": current,
        "current_events": n,
        "direction": chosen.direction,
        "detector": "mixture",
        "design": chosen.p1,
        "statistic": mixture_statistic(detector, monitor.state),
        "threshold": detector.threshold,
        "false_alarms_per_event": detector.false_alarms_per_event,
        "onset": onset.isoformat(),
    }


def _shape_evidence(monitor, current: dict, through) -> dict | None:
    since = through - timedelta(minutes=monitor.window_minutes)
    signal = monitor.signal[0]
    order = None
    numeric = monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric
    if numeric:
        order = rollups.bin_order(signal, set(current) | set(monitor.baseline["counts"]))
    verdict = shape_shift(
        "numeric" if numeric else "categorical", monitor.baseline["counts"], current, order
    )
    if not verdict.fired:
        return None
    return {
        "kind": "shape",
        "baseline": baseline_value(monitor),
        "current": value_of(monitor, sum(current.values()), current),
        "current_events": sum(current.values()),
        "test": verdict.test,
        "statistic": verdict.statistic,
        "threshold": verdict.threshold,
        "p_value": verdict.p_value,
        "detail": verdict.detail,
        "onset": since.isoformat(),
    }


class Judged(NamedTuple):
    """A monitor evaluated in memory, to be saved: the progress it claims from, and the
    evidence of a shift (None: none)."""

    monitor: Monitor
    claimed_through: datetime | None
    fired: dict | None


def evaluations_save(judged: list[Judged], through, now) -> list[str]:
    """Save a batch's evaluations, answering their outcomes. The quiet ones (nothing raised,
    not firing), nearly all of them, claim their buckets in one conditional UPDATE; one
    that raises or may resolve goes through `evaluation_save` in its own savepoint, so one
    that fails is logged and left, claim and all, for the next run."""
    quiet = [j for j in judged if j.fired is None and j.monitor.status != Monitor.Status.FIRING]
    claimed = _claims_save(quiet, through)
    outcomes = []
    for monitor, _, _ in quiet:
        if monitor.pk in claimed:
            monitor.evaluated_through = through
        outcomes.append("" if monitor.pk in claimed else "lost")
    for monitor, claimed_through, fired in judged:
        if fired is None and monitor.status != Monitor.Status.FIRING:
            continue
        try:
            outcomes.append(evaluation_save(monitor, claimed_through, through, fired, now))
        except Exception:
            logger.exception("saving the evaluation of monitor %s", monitor.pk)
    return outcomes


# The rows as one JSON document: thousands of parameters cost more to send than to run.
_CLAIMS_SQL = """
UPDATE monitoring_monitor AS m SET evaluated_through = %s, status = v.status,
    baseline = v.baseline, baseline_at = v.baseline_at, detector = v.detector, state = v.state
FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, claimed_through timestamptz, status text,
    baseline jsonb, baseline_at timestamptz, detector jsonb, state jsonb)
WHERE m.id = v.id AND m.evaluated_through IS NOT DISTINCT FROM v.claimed_through
RETURNING m.id
"""


def _claims_save(judged: list[Judged], through) -> set[int]:
    """Claim many monitors' buckets, each on its own old `evaluated_through`, saving what
    each keeps: one statement on PostgreSQL; the ids claimed."""
    if not judged:
        return set()
    if connection.vendor != "postgresql":
        return {j.monitor.pk for j in judged if _claim(j.monitor, j.claimed_through, through)}
    rows = [
        {
            "id": monitor.pk,
            "claimed_through": claimed_through and claimed_through.isoformat(),
            "status": monitor.status,
            "baseline": monitor.baseline,
            "baseline_at": monitor.baseline_at and monitor.baseline_at.isoformat(),
            "detector": monitor.detector,
            "state": monitor.state,
        }
        for monitor, claimed_through, _ in judged
    ]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIMS_SQL, [through, json.dumps(rows)])
        return {pk for (pk,) in cursor.fetchall()}


def _claim(monitor, claimed_through, through) -> bool:
    return bool(
        Monitor.objects.filter(pk=monitor.pk, evaluated_through=claimed_through).update(
            evaluated_through=through,
            status=monitor.status,
            baseline=monitor.baseline,
            baseline_at=monitor.baseline_at,
            detector=monitor.detector,
            state=monitor.state,
        )
    )


def evaluation_save(monitor, claimed_through, through, fired, now=None, back=None) -> str:
    """Claim the buckets (conditional UPDATE on the old `evaluated_through`), then raise or
    resolve in the same transaction. Losing the claim means another run did this work.

    What every evaluator ends with, a registered one too: `fired` is the evidence of a
    shift (None: none), `back` whether a firing monitor's signal has returned (None: ask
    `back_in_band`)."""
    with transaction.atomic():
        if not _claim(monitor, claimed_through, through):
            return "lost"
        monitor.evaluated_through = through
        if fired is not None:
            return "raised" if alert_raise(monitor=monitor, evidence=fired, now=now) else ""
        firing = monitor.status == Monitor.Status.FIRING
        if back is None and firing and now is not None:
            back = back_in_band(monitor, through)
        if firing and back:
            alert_resolve(monitor=monitor, now=now)
            return "resolved"
    return ""
