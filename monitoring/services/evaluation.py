"""Running the monitors: every few seconds, each over the rollup buckets completed since it
last ran; a shift raises an alert, a signal back in its band resolves it.

Monitor kinds not counted in the rollups (`Monitor.EXTERNAL_KINDS`: accuracy, from the
reviews) are evaluated by the app that holds their data, which registers an evaluator for
the kind in its `AppConfig.ready()`:

    register_evaluator(Monitor.Kind.ACCURACY, accuracy_evaluate)

An evaluator is called as `evaluate(monitor, through, now)` inside the system's
transaction, sets the monitor's status (and baseline) and ends with `evaluation_save`,
answering its outcome ("raised", "resolved", or "")."""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
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
    value_of,
)
from monitoring.services.alerts import alert_raise, alert_resolve
from monitoring.services.baselines import baselines_refresh
from monitoring.services.monitors import baseline_enough, detector_calibrate
from monitoring.services.shards import claims_open, systems_claim, systems_release

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
    by_system: dict = defaultdict(list)
    for monitor in Monitor.objects.filter(enabled=True, system_id__in=ids).select_related("system"):
        by_system[monitor.system_id].append(monitor)
    # One commit per batch of systems (a commit waits for the disk: per system it was most
    # of the time); each system and each monitor's claim stay their own savepoint, and a
    # system that fails is logged and left for the next run, not its batch with it.
    with transaction.atomic():
        for monitors in by_system.values():
            try:
                with transaction.atomic():
                    _system_evaluate(monitors, now, through, summary)
            except Exception:
                logger.exception("evaluating the monitors of system %s", monitors[0].system_id)


def _system_evaluate(monitors, now, through, summary: dict) -> None:
    # Baselines first: the false-alarm budget is spread over the traffic they measure, so
    # a monitor leaving its learning period is calibrated for the real traffic.
    baselines_refresh(monitors, now)
    rows = _new_buckets(monitors, through)
    budget = _false_alarms_per_event(monitors)
    for monitor in monitors:
        summary["monitors"] += 1
        outcome = _evaluate(monitor, rows, through, now, budget)
        summary["alerts"] += outcome == "raised"
        summary["resolved"] += outcome == "resolved"


def _new_buckets(monitors, through) -> dict:
    """(signal, key) → {bucket: events} for the rate monitors of one system, one query."""
    rate = [m for m in monitors if m.is_rate and m.evaluated_through]
    if not rate:
        return {}
    since = min(m.evaluated_through for m in rate)
    wanted = {m.signal[0] for m in rate} | {m.denominator[0] for m in rate}
    rows: dict = defaultdict(lambda: defaultdict(int))
    for bucket, signal, key, n in (
        Rollup.objects.filter(
            system_id=rate[0].system_id, bucket__gte=since, bucket__lt=through, signal__in=wanted
        )
        .values_list("bucket", "signal", "key")
        .annotate(total=Sum("n"))
        .values_list("bucket", "signal", "key", "total")
    ):
        rows[signal, key][bucket] += n
    return rows


def _false_alarms_per_event(monitors) -> float:
    """The system's "false pages a month", per event, split across its monitors."""
    system = monitors[0].system
    per_day = max((events_per_day(m) for m in monitors), default=0.0)
    return false_alarms_per_event(system.false_pages_per_month, max(per_day, 1.0), len(monitors))


def _evaluate(monitor: Monitor, rows, through, now, budget) -> str:
    if monitor.kind in Monitor.EXTERNAL_KINDS:
        evaluate = EVALUATORS.get(monitor.kind)
        # Without its app installed, nothing feeds such a monitor: it is left as it is.
        return evaluate(monitor, through, now) if evaluate else ""
    claimed_through = monitor.evaluated_through
    # A shape is tested over minutes of traffic: every SHAPE_EVERY is often enough.
    if (
        not monitor.is_rate
        and claimed_through is not None
        and through - claimed_through < SHAPE_EVERY
        and monitor.status != Monitor.Status.LEARNING
        and monitor.baseline_at != now  # a baseline refreshed this run must be saved
    ):
        return ""
    firing = monitor.status == Monitor.Status.FIRING
    if not baseline_enough(monitor):
        monitor.status = Monitor.Status.LEARNING
        return evaluation_save(monitor, claimed_through, through, None)
    if monitor.is_rate:
        detector = detector_calibrate(monitor, budget)
        fired = None
        if claimed_through is not None:
            signal, key = monitor.signal
            events = rows.get(monitor.denominator, {})
            hits = rows.get((signal, key), {})
            for bucket in sorted(b for b in events if b >= claimed_through):
                state, shift = mixture_update(
                    detector, monitor.state, hits.get(bucket, 0), events[bucket], bucket.timestamp()
                )
                monitor.state = state
                if shift is not None and fired is None and not firing:
                    fired = _rate_evidence(monitor, detector, shift, bucket, now)
                    monitor.state = mixture_start(detector)
    else:
        fired = None if firing else _shape_evidence(monitor, through)
    if fired is not None:
        monitor.status = Monitor.Status.FIRING
    elif not firing:
        monitor.status = Monitor.Status.OK
    return evaluation_save(monitor, claimed_through, through, fired, now)


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


def _shape_evidence(monitor, through) -> dict | None:
    since = through - timedelta(minutes=monitor.window_minutes)
    _, current = observed(monitor, since, through)
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


def evaluation_save(monitor, claimed_through, through, fired, now=None, back=None) -> str:
    """Claim the buckets (conditional UPDATE on the old `evaluated_through`), then raise or
    resolve in the same transaction. Losing the claim means another run did this work.

    What every evaluator ends with, a registered one too: `fired` is the evidence of a
    shift (None: none), `back` whether a firing monitor's signal has returned (None: ask
    `back_in_band`)."""
    with transaction.atomic():
        claimed = Monitor.objects.filter(pk=monitor.pk, evaluated_through=claimed_through).update(
            evaluated_through=through,
            status=monitor.status,
            baseline=monitor.baseline,
            baseline_at=monitor.baseline_at,
            detector=monitor.detector,
            state=monitor.state,
        )
        if not claimed:
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
