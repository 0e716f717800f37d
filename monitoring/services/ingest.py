"""Writes of monitoring: ingesting events, configuring monitors, evaluating them, alerts."""

import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from core.permissions import require
from core.services import actor_of, audit_record, snapshot
from incidents.models import Incident, TimelineEntry
from incidents.services import incident_declare, timeline_record
from monitoring import accuracy, detectors, ingest, rollups, sampling, selectors
from monitoring.models import Alert, Event, Monitor, ReviewItem, ReviewPlan, Rollup, Verdict
from rollbacks.selectors import version_refs


class IngestError(Exception):
    """A batch refused whole; `problems` are `{"index", "field", "message"}`."""

    def __init__(self, problems: list[dict]):
        super().__init__(problems[0]["message"])
        self.problems = problems


def events_ingest(*, system, payload, now: datetime | None = None) -> dict:
    """Store a batch of events exactly once and add them to the rollups, in one transaction.

    A batch with any invalid event stores nothing. An event whose id the system already
    sent (in this batch or an earlier one) is counted as a duplicate, not stored again:
    that is what lets a sender retry after a lost reply."""
    checked, problems = ingest.events_check(payload, now)
    if problems:
        raise IngestError(problems)
    unique = list({event.client_id: event for event in reversed(checked)}.values())[::-1]
    refs = version_refs(system)
    served = [_resolve(event.versions, refs) for event in unique]
    patterns, inputs = _watched(system)
    received_at = now or datetime.now(UTC)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            stored = _store_copy(system, unique, served, received_at)
        else:
            stored = _store_orm(system, unique, served, received_at)
        new = [(event, versions) for event, versions in zip(unique, served, strict=True)]
        new = [pair for pair in new if pair[0].client_id in stored]
        totals = rollups.count(
            [event for event, _ in new],
            [versions for _, versions in new],
            settings.FAILSAFE_ROLLUP_SECONDS,
            patterns,
            inputs,
        )
        _rollups_add(system, totals)
    return {"accepted": len(new), "duplicates": len(checked) - len(new)}


def _resolve(versions: dict, refs: dict) -> dict:
    """The registry's version number for each reference the event gave (None: unknown)."""
    return {surface: refs[surface].get(ref) for surface, ref in versions.items()}


def _watched(system) -> tuple[dict[int, re.Pattern], dict[str, bool]]:
    """What only some monitors need counted: their regexes and input features."""
    patterns, inputs = {}, {}
    for pk, kind, target, numeric in Monitor.objects.filter(
        system=system, enabled=True, kind__in=[Monitor.Kind.PATTERN, Monitor.Kind.INPUT_FEATURE]
    ).values_list("pk", "kind", "target", "numeric"):
        if kind == Monitor.Kind.PATTERN:
            patterns[pk] = re.compile(target)
        else:
            inputs[target] = numeric
    return patterns, inputs


EVENT_COLUMNS = (
    "client_id, ts, received_at, input, label, score, text, refused, versions, served, "
    "actions, subject"
)


def incoming_rows(events, served, received_at):
    """The COPY rows of a checked batch, in `EVENT_COLUMNS` order."""
    # Events of a batch are mostly served by the same few versions: encode each once.
    encoded: dict = {}

    def once(value: dict) -> str:
        key = tuple(value.items())
        if key not in encoded:
            encoded[key] = ingest.compact_json(value)
        return encoded[key]

    for event, versions in zip(events, served, strict=True):
        yield (
            event.client_id,
            event.ts,
            received_at,
            event.input_json,
            event.label,
            event.score,
            event.text,
            event.refused,
            once(event.versions),
            once(versions),
            event.actions_json,
            event.subject,
        )


def copy_incoming(cursor, events, served, received_at) -> None:
    """COPY a batch into this connection's temporary table (emptied at commit)."""
    cursor.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_event ("
        "client_id text, ts timestamptz, received_at timestamptz, input jsonb, "
        "label text, score double precision, text text, refused boolean, "
        "versions jsonb, served jsonb, actions jsonb, subject text"
        ") ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY incoming_event ({EVENT_COLUMNS}) FROM STDIN") as copy:
        for row in incoming_rows(events, served, received_at):
            copy.write_row(row)


def _store_copy(system, events, served, received_at) -> set[str]:
    """PostgreSQL: COPY the batch into a temporary table, then move the new ones over.

    `ON CONFLICT DO NOTHING` makes a concurrent or repeated send of the same id store it
    once; `RETURNING` says which ids were new, so only those reach the rollups."""
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        copy_incoming(cursor, events, served, received_at)
        cursor.execute(
            f"INSERT INTO monitoring_event (system_id, {EVENT_COLUMNS}) "  # noqa: S608 (constants)
            f"SELECT %s, {EVENT_COLUMNS} FROM incoming_event "
            "ON CONFLICT (system_id, client_id) DO NOTHING RETURNING client_id",
            [system.pk],
        )
        return {row[0] for row in cursor.fetchall()}


def _store_orm(system, events, served, received_at) -> set[str]:
    """SQLite (the demo): one writer at a time, so look first, then insert the rest."""
    ids = [event.client_id for event in events]
    known = set(
        Event.objects.filter(system=system, client_id__in=ids).values_list("client_id", flat=True)
    )
    Event.objects.bulk_create(
        Event(
            system=system,
            client_id=event.client_id,
            ts=event.ts,
            received_at=received_at,
            input=event.input,
            label=event.label,
            score=event.score,
            text=event.text,
            refused=event.refused,
            versions=event.versions,
            served=versions,
            actions=event.actions,
            subject=event.subject,
        )
        for event, versions in zip(events, served, strict=True)
        if event.client_id not in known
    )
    return set(ids) - known


def _rollups_add(system, totals) -> None:
    """Add the batch's counts to the rollup cells, in one statement.

    Cells are sorted so concurrent batches lock shared cells in the same order (no
    deadlock)."""
    if not totals:
        return
    cells = sorted(totals.items(), key=lambda item: (item[0][1], item[0][0], item[0][2:]))
    conflict = (
        "ON CONFLICT (system_id, signal, bucket, key, served) "
        "DO UPDATE SET n = monitoring_rollup.n + EXCLUDED.n"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n) "  # noqa: S608
                "SELECT %s, * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], "
                f"%s::text[], %s::bigint[]) {conflict}",
                [
                    system.pk,
                    [cell[0] for cell, _ in cells],
                    [cell[1] for cell, _ in cells],
                    [cell[2] for cell, _ in cells],
                    [cell[3] for cell, _ in cells],
                    [n for _, n in cells],
                ],
            )
        else:
            cursor.executemany(
                "INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n) "  # noqa: S608
                f"VALUES (%s, %s, %s, %s, %s, %s) {conflict}",
                [
                    (system.pk, connection.ops.adapt_datetimefield_value(cell[0]), *cell[1:], n)
                    for cell, n in cells
                ],
            )


# --- Monitors ---------------------------------------------------------------------------

MONITOR_FIELDS = [
    "name",
    "kind",
    "target",
    "numeric",
    "baseline_days",
    "baseline_start",
    "baseline_end",
    "min_shift",
    "window_minutes",
    "enabled",
]


class MonitorError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _monitor_check(system, fields: dict) -> None:
    kind = fields["kind"]
    target = (fields.get("target") or "").strip()
    fields["target"] = target
    if not fields.get("name", "").strip():
        raise MonitorError("Give the monitor a name people will recognise in an alert.", "name")
    if kind not in Monitor.Kind.values:
        raise MonitorError(f"One of {', '.join(Monitor.Kind.values)}.", "kind")
    if kind == Monitor.Kind.CATEGORY_SHARE and not target:
        raise MonitorError("Which output label's share to watch, e.g. fraud.", "target")
    if kind == Monitor.Kind.ACTION_RATE and not system.action_types.filter(name=target).exists():
        names = ", ".join(system.action_types.values_list("name", flat=True)) or "none yet"
        raise MonitorError(f"An action type of this system's catalog ({names}).", "target")
    if kind == Monitor.Kind.PATTERN:
        try:
            re.compile(target)
        except re.error as error:
            raise MonitorError(f"Not a regular expression: {error}.", "target") from None
        if not target:
            raise MonitorError("The pattern to count in output text.", "target")
    if kind == Monitor.Kind.NUMERIC and target not in ("length", "score"):
        raise MonitorError("length (of the output text) or score.", "target")
    if kind == Monitor.Kind.INPUT_FEATURE and not re.fullmatch(r"[\w.-]{1,100}", target):
        raise MonitorError("The input feature's name, as events send it.", "target")
    start, end = fields.get("baseline_start"), fields.get("baseline_end")
    if bool(start) != bool(end):
        raise MonitorError("A pinned baseline needs both its start and its end.", "baseline_end")
    if start and end and start >= end:
        raise MonitorError("The baseline must end after it starts.", "baseline_end")
    if fields.get("min_shift", 2.0) <= 1.0:
        raise MonitorError("A factor above 1: 2 means the rate doubles (or halves).", "min_shift")


@transaction.atomic
def monitor_create(*, actor, system, **fields) -> Monitor:
    require(actor, "monitor.manage", system)
    fields = {k: v for k, v in fields.items() if k in MONITOR_FIELDS}
    _monitor_check(system, fields)
    monitor = Monitor.objects.create(system=system, created_by=actor_of(actor)[0], **fields)
    audit_record(
        actor=actor,
        verb="monitor.create",
        target=monitor,
        after=snapshot(monitor, MONITOR_FIELDS),
    )
    return monitor


@transaction.atomic
def monitor_update(*, actor, monitor: Monitor, **changes) -> Monitor:
    """Change what a monitor watches; its baseline and detector are computed afresh."""
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    require(actor, "monitor.manage", monitor.system)
    before = snapshot(monitor, MONITOR_FIELDS)
    fields = {f: getattr(monitor, f) for f in MONITOR_FIELDS}
    fields |= {k: v for k, v in changes.items() if k in MONITOR_FIELDS}
    _monitor_check(monitor.system, fields)
    for field, value in fields.items():
        setattr(monitor, field, value)
    monitor.baseline, monitor.baseline_at, monitor.detector, monitor.state = {}, None, {}, []
    monitor.status = Monitor.Status.LEARNING
    monitor.save()
    audit_record(
        actor=actor,
        verb="monitor.update",
        target=monitor,
        before=before,
        after=snapshot(monitor, MONITOR_FIELDS),
    )
    return monitor


# --- Evaluation ---------------------------------------------------------------------------

# A baseline with fewer events than this cannot be trusted to set a threshold.
MIN_BASELINE_EVENTS = 500
# A rate's baseline needs this many of what it counts (a relative error near 10%), or, for
# a class so rare it never gets there, this many events.
MIN_BASELINE_HITS = 100
RARE_BASELINE_EVENTS = 20_000
BASELINE_REFRESH = timedelta(hours=1)
LEARNING_REFRESH = timedelta(minutes=1)
MIN_CURRENT_EVENTS = 200
SHAPE_EVERY = timedelta(seconds=30)


def monitors_evaluate(now: datetime | None = None) -> dict:
    """Run every enabled monitor over the rollup buckets completed since it last ran.

    Called by beat every few seconds. Each monitor's progress (`evaluated_through`) is
    claimed with a conditional UPDATE, so two evaluations running at once count each
    bucket once and raise one alert."""
    now = now or timezone.now()
    width = settings.FAILSAFE_ROLLUP_SECONDS
    through = rollups.bucket_of(
        now - timedelta(seconds=settings.FAILSAFE_EVALUATION_LAG_SECONDS), width
    )
    summary = {"monitors": 0, "alerts": 0, "resolved": 0}
    by_system: dict = defaultdict(list)
    for monitor in Monitor.objects.filter(enabled=True).select_related("system"):
        by_system[monitor.system_id].append(monitor)
    for monitors in by_system.values():
        # Baselines first: the false-alarm budget is spread over the traffic they measure,
        # so a monitor leaving its learning period is calibrated for the real traffic.
        for monitor in monitors:
            _baseline_refresh(monitor, now)
        rows = _new_buckets(monitors, through)
        budget = _false_alarms_per_event(monitors)
        # One commit per system, not per monitor; each claim stays its own savepoint.
        with transaction.atomic():
            for monitor in monitors:
                summary["monitors"] += 1
                outcome = _evaluate(monitor, rows, through, now, budget)
                summary["alerts"] += outcome == "raised"
                summary["resolved"] += outcome == "resolved"
    return summary


def _new_buckets(monitors, through) -> dict:
    """(signal, key) → {bucket: events} for the rate monitors of one system, one query."""
    rate = [m for m in monitors if m.is_rate and m.evaluated_through]
    if not rate:
        return {}
    since = min(m.evaluated_through for m in rate)
    wanted = {"events"} | {m.signal[0] for m in rate}
    rows: dict = defaultdict(lambda: defaultdict(int))
    for bucket, signal, key, n in (
        Rollup.objects.filter(
            system_id=rate[0].system_id, bucket__gte=since, bucket__lt=through, signal__in=wanted
        )
        .values_list("bucket", "signal", "key")
        .annotate(total=Sum("n"))
        .values_list("bucket", "signal", "key", "total")
    ):
        rows[signal, key if signal != "events" else ""][bucket] += n
    return rows


def _false_alarms_per_event(monitors) -> float:
    """The system's "false pages a month", per event, split across its monitors."""
    system = monitors[0].system
    per_day = max((selectors.events_per_day(m) for m in monitors), default=0.0)
    return detectors.false_alarms_per_event(
        system.false_pages_per_month, max(per_day, 1.0), len(monitors)
    )


def _baseline(monitor: Monitor, now: datetime) -> dict:
    since, until = selectors.baseline_window(monitor, now)
    first = (
        Rollup.objects.filter(system=monitor.system, signal="events", bucket__gte=since)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )
    n, found = selectors.observed(monitor, since, until)
    days = ((until - max(since, first)).total_seconds() / 86400) if first else 0.0
    return {"n": n, "counts": found, "days": days, "since": since.isoformat()}


def _baseline_enough(monitor: Monitor) -> bool:
    """Enough baseline to set a threshold on. For a rate, enough of what it counts too: a
    share estimated from a handful of fraud flags is off by a third, and the detector would
    page on the estimate's error (a rare class gets there by volume instead)."""
    n = monitor.baseline.get("n", 0)
    if n < MIN_BASELINE_EVENTS:
        return False
    if not monitor.is_rate:
        return True
    hits = monitor.baseline["counts"].get("x", 0)
    return hits >= MIN_BASELINE_HITS or n >= RARE_BASELINE_EVENTS


def _baseline_refresh(monitor: Monitor, now) -> None:
    """Recompute a rate or shape monitor's baseline when due (hourly; every minute while
    it is still learning, so new traffic counts soon). Never while it fires."""
    if monitor.kind == Monitor.Kind.ACCURACY or monitor.status == Monitor.Status.FIRING:
        return
    learning = monitor.status == Monitor.Status.LEARNING
    refresh = LEARNING_REFRESH if learning else BASELINE_REFRESH
    if monitor.baseline_at is None or now - monitor.baseline_at >= refresh:
        monitor.baseline, monitor.baseline_at = _baseline(monitor, now), now
        monitor.detector = {}


def _evaluate(monitor: Monitor, rows, through, now, budget) -> str:
    if monitor.kind == Monitor.Kind.ACCURACY:
        return _evaluate_accuracy(monitor, through, now)
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
    if not _baseline_enough(monitor):
        monitor.status = Monitor.Status.LEARNING
        return _save(monitor, claimed_through, through, None)
    if monitor.is_rate:
        p0 = selectors.rate_of(monitor)
        if not monitor.detector or monitor.detector.get("false_alarms_per_event") != budget:
            monitor.detector = detectors.bank_for(p0, budget).to_json()
            monitor.state = []
        bank = detectors.DetectorBank.from_json(monitor.detector)
        if not monitor.state:
            monitor.state = detectors.bank_start(bank)
        fired = None
        if claimed_through is not None:
            signal, key = monitor.signal
            events = rows.get(("events", ""), {})
            hits = rows.get((signal, key), {})
            for bucket in sorted(b for b in events if b >= claimed_through):
                state, design = detectors.bank_update(
                    bank, monitor.state, hits.get(bucket, 0), events[bucket], bucket.timestamp()
                )
                monitor.state = state
                if design is not None and fired is None and not firing:
                    fired = _rate_evidence(monitor, bank, design, bucket, now)
                    monitor.state = detectors.bank_start(bank)
    else:
        fired = None if firing else _shape_evidence(monitor, through)
    if fired is not None:
        monitor.status = Monitor.Status.FIRING
    elif not firing:
        monitor.status = Monitor.Status.OK
    return _save(monitor, claimed_through, through, fired, now)


# Fewer reviews than this in the baseline cannot say what accuracy to expect.
MIN_BASELINE_REVIEWS = 20


def _evaluate_accuracy(monitor: Monitor, through, now) -> str:
    """Reviewed accuracy of the last day against the baseline's: a significant drop fires
    (the same path as any monitor); it resolves once the last day's interval reaches the
    baseline again."""
    baseline = selectors.accuracy_baseline(monitor.system, now)
    current = selectors.accuracy_estimate(monitor.system, now - timedelta(days=1), now)
    monitor.baseline, monitor.baseline_at = (
        {
            "n": baseline.reviewed,
            "correct": baseline.correct,
            "low": baseline.low,
            "high": baseline.high,
        },
        now,
    )
    firing = monitor.status == Monitor.Status.FIRING
    if baseline.reviewed < MIN_BASELINE_REVIEWS:
        monitor.status = Monitor.Status.LEARNING
        return _save(monitor, monitor.evaluated_through, through, None)
    fired = None
    if not firing and accuracy.accuracy_dropped(baseline, current):
        first_wrong = (
            ReviewItem.objects.filter(
                system=monitor.system,
                status=ReviewItem.Status.DONE,
                correct=False,
                event__ts__gte=now - timedelta(days=1),
            )
            .order_by("event__ts")
            .values_list("event__ts", flat=True)
            .first()
        )
        fired = {
            "kind": "accuracy",
            "baseline": baseline.correct,
            "current": current.correct,
            "current_events": current.reviewed,
            "current_low": current.low,
            "current_high": current.high,
            "test": "one-sided two-proportion z-test",
            "statistic": current.correct - baseline.correct,
            "threshold": 0.001,
            "onset": (first_wrong or now - timedelta(days=1)).isoformat(),
        }
        monitor.status = Monitor.Status.FIRING
    elif not firing:
        monitor.status = Monitor.Status.OK
    back = firing and current.reviewed > 0 and current.high >= baseline.correct
    return _save(monitor, monitor.evaluated_through, through, fired, now, back=back)


def _rate_evidence(monitor, bank, design: int, bucket, now) -> dict:
    chosen = bank.designs[design]
    zero_at = monitor.state[design].get("zero_at")
    onset = datetime.fromtimestamp(zero_at, UTC) if zero_at else bucket
    # The current rate since the onset; when that is too few events to say, the last few
    # minutes (a rate from a handful of events would overstate it).
    n, found = selectors.observed(monitor, onset, now)
    if n < MIN_CURRENT_EVENTS:
        n, found = selectors.observed(monitor, min(onset, now - selectors.RETURN_WINDOW), now)
    current = found["x"] / n if n else None
    return {
        "kind": "rate",
        "baseline": bank.p0,
        "current": current,
        "current_events": n,
        "direction": chosen.direction,
        "design": chosen.p1,
        "statistic": monitor.state[design]["s"],
        "threshold": chosen.threshold,
        "false_alarms_per_event": bank.false_alarms_per_event,
        "onset": onset.isoformat(),
    }


def _shape_evidence(monitor, through) -> dict | None:
    since = through - timedelta(minutes=monitor.window_minutes)
    _, current = selectors.observed(monitor, since, through)
    signal = monitor.signal[0]
    order = None
    numeric = monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric
    if numeric:
        order = rollups.bin_order(signal, set(current) | set(monitor.baseline["counts"]))
    verdict = detectors.shape_shift(
        "numeric" if numeric else "categorical", monitor.baseline["counts"], current, order
    )
    if not verdict.fired:
        return None
    return {
        "kind": "shape",
        "baseline": selectors.baseline_value(monitor),
        "current": selectors.value_of(monitor, sum(current.values()), current),
        "current_events": sum(current.values()),
        "test": verdict.test,
        "statistic": verdict.statistic,
        "threshold": verdict.threshold,
        "p_value": verdict.p_value,
        "detail": verdict.detail,
        "onset": since.isoformat(),
    }


def _save(monitor, claimed_through, through, fired, now=None, back=None) -> str:
    """Claim the buckets (conditional UPDATE on the old `evaluated_through`), then raise or
    resolve in the same transaction. Losing the claim means another run did this work."""
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
            back = selectors.back_in_band(monitor, through)
        if firing and back:
            alert_resolve(monitor=monitor, now=now)
            return "resolved"
    return ""


# --- Alerts -----------------------------------------------------------------------------


def _percent_or_number(monitor: Monitor, value) -> str:
    if value is None:
        return "no data"
    if monitor.is_rate or not (monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric):
        return f"{value:.1%}"
    return f"{value:,.0f}"


def alert_summary(monitor: Monitor, evidence: dict) -> str:
    """One line a responder reads first: what moved, from what, to what."""
    if evidence["kind"] == "breaker":
        # The action gate's circuit breaker (gate/services.py): counts per window.
        baseline = evidence.get("baseline")
        was = "no baseline yet" if baseline is None else f"a baseline of {baseline:.1f}"
        return (
            f"{monitor.name}: {evidence['requests']} {evidence['action']} requests in "
            f"{evidence['window_seconds']} s against {was} (limit {evidence['threshold']}); "
            "new ones are held"
        )
    now = _percent_or_number(monitor, evidence.get("current"))
    was = _percent_or_number(monitor, evidence.get("baseline"))
    if evidence["kind"] == "rate":
        how = "rose" if evidence["direction"] == "up" else "fell"
        return f"{monitor.name} {how} to {now} against a baseline of {was}"
    if evidence["kind"] == "accuracy":
        return (
            f"{monitor.name} fell to {now} over {evidence['current_events']} reviewed outputs "
            f"against a baseline of {was}"
        )
    return (
        f"{monitor.name} changed shape ({evidence['test']} {evidence['statistic']:.2f}): "
        f"{now} against a baseline of {was}"
    )


@transaction.atomic
def alert_raise(*, monitor: Monitor, evidence: dict, now: datetime | None = None):
    """Open an alert (one per monitor at a time) and bring it to an incident: the system's
    open one, or a new SEV3 opened by the alert."""
    now = now or timezone.now()
    if Alert.objects.filter(monitor=monitor, status=Alert.Status.OPEN).exists():
        return None
    system = monitor.system
    onset = min(datetime.fromisoformat(evidence["onset"]), now)
    summary = alert_summary(monitor, evidence)
    alert = Alert.objects.create(
        monitor=monitor,
        system=system,
        opened_at=now,
        onset_at=onset,
        evidence=evidence,
        summary=summary[:300],
    )
    incident = (
        Incident.objects.filter(systems=system)
        .exclude(status__in=[Incident.Status.RESOLVED, Incident.Status.CLOSED])
        .order_by("declared_at")
        .first()
    )
    if incident is None:
        incident = incident_declare(
            actor=monitor,
            title=f"{monitor.name} shifted on {system.name}"[:200],
            systems=[system],
            summary=summary,
            harm=Incident.Harm.ANOMALOUS,
            irreversible_actions=_irreversible_fired(system, onset, now),
            source=Incident.Source.ALERT,
            onset_at=onset,
            detected_at=now,
            declared_at=now,
        )
    alert.incident = incident
    alert.save(update_fields=["incident"])
    audit_record(
        actor=monitor,
        verb="alert.raise",
        target=alert,
        after={"summary": summary, "incident": incident.number, "evidence": evidence},
    )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.ALERT,
        actor=monitor,
        at=now,
        text=f"Alert: {summary}. Estimated onset {onset:%H:%M:%S} UTC.",
        data={"alert": alert.pk, "monitor": monitor.pk},
    )
    return alert


def _irreversible_fired(system, since, until) -> bool:
    """Did actions that cannot be undone fire since the onset? (The severity question.)"""
    irreversible = list(system.action_types.filter(reversible=False).values_list("name", flat=True))
    return (
        bool(irreversible)
        and Rollup.objects.filter(
            system=system,
            signal="action",
            key__in=irreversible,
            bucket__gte=since,
            bucket__lte=until,
        ).exists()
    )


@transaction.atomic
def alert_resolve(*, monitor: Monitor, now: datetime | None = None):
    """The signal is back within its baseline band: close the alert, re-arm the monitor."""
    now = now or timezone.now()
    alert = (
        Alert.objects.select_for_update().filter(monitor=monitor, status=Alert.Status.OPEN).first()
    )
    Monitor.objects.filter(pk=monitor.pk).update(status=Monitor.Status.OK, state=[])
    monitor.status, monitor.state = Monitor.Status.OK, []
    if alert is None:
        return None
    alert.status, alert.resolved_at = Alert.Status.RESOLVED, now
    alert.save(update_fields=["status", "resolved_at"])
    audit_record(
        actor=monitor,
        verb="alert.resolve",
        target=alert,
        before={"status": "open"},
        after={"status": "resolved"},
        reason="The signal returned within its baseline band.",
    )
    if alert.incident_id:
        timeline_record(
            incident=alert.incident,
            kind=TimelineEntry.Kind.ALERT,
            actor=monitor,
            at=now,
            text=f"Resolved: {monitor.name} is back within its baseline band.",
            data={"alert": alert.pk, "monitor": monitor.pk, "resolved": True},
        )
    return alert


# --- Ground truth: sampling and verdicts ---------------------------------------------------

# Events younger than this are left for the next run: a batch still committing could
# otherwise land behind the cursor.
SAMPLING_LAG = timedelta(seconds=10)
SAMPLING_CHUNK = 20_000
PLAN_FIELDS = ["active", "per_day", "oversample", "double_share", "baseline_days"]


class ReviewError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@transaction.atomic
def review_plan_set(*, actor, system, **fields) -> ReviewPlan:
    """Change how a system's outputs are sampled for review (owner or responder)."""
    require(actor, "monitor.manage", system)
    plan, _ = ReviewPlan.objects.select_for_update().get_or_create(system=system)
    before = snapshot(plan, PLAN_FIELDS)
    oversample = fields.get("oversample", plan.oversample)
    if not isinstance(oversample, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and v >= 1 for k, v in oversample.items()
    ):
        raise ReviewError('Labels and factors of at least 1, e.g. {"fraud": 10}.', "oversample")
    if not 0 <= fields.get("double_share", plan.double_share) <= 1:
        raise ReviewError("A share between 0 and 1.", "double_share")
    for field, value in fields.items():
        if field in PLAN_FIELDS:
            setattr(plan, field, value)
    plan.save()
    audit_record(
        actor=actor,
        verb="review_plan.set",
        target=plan,
        before=before,
        after=snapshot(plan, PLAN_FIELDS),
    )
    return plan


def _label_counts(system, now) -> tuple[dict[str, int], float]:
    """Output labels over the last week, from the rollups, and the days they span."""
    since = now - timedelta(days=7)
    found = selectors.counts(system, "label", since, now)
    total = selectors.counts(system, "events", since, now).get("", 0)
    found[""] = max(total - sum(found.values()), 0)
    first = (
        Rollup.objects.filter(system=system, signal="events", bucket__gte=since)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )
    days = max((now - first).total_seconds() / 86400, 1 / 24) if first else 1.0
    return found, days


def reviews_sample(now: datetime | None = None, rng=None) -> dict:
    """Queue new outputs of every system for review, as its plan says; plus, for each open
    incident, an extra sample of its window at a higher rate, tagged with the incident.

    Beat runs it every minute. Each plan's cursor (`sampled_through`) moves with a
    conditional UPDATE, so two runs at once sample each event once; an event is reviewed
    at most once whatever happens (one item per event)."""
    now = now or timezone.now()
    rng = rng or random.Random()  # noqa: S311 (sampling, not secrets)
    queued = 0
    for plan in ReviewPlan.objects.filter(active=True).select_related("system"):
        queued += _sample_plan(plan, now, rng)
    for incident in Incident.objects.exclude(
        status__in=[Incident.Status.RESOLVED, Incident.Status.CLOSED]
    ).prefetch_related("systems"):
        queued += _sample_incident(incident, now, rng)
    return {"queued": queued}


def _sample_plan(plan: ReviewPlan, now, rng) -> int:
    counts, days = _label_counts(plan.system, now)
    settings_ = sampling.Plan(
        per_day=plan.per_day, oversample=plan.oversample, double_share=plan.double_share
    )
    probabilities = sampling.inclusion_probabilities(settings_, counts, days)
    rows = list(
        Event.objects.filter(
            system=plan.system, pk__gt=plan.sampled_through, received_at__lt=now - SAMPLING_LAG
        )
        .order_by("pk")
        .values_list("pk", "label")[:SAMPLING_CHUNK]
    )
    if not rows:
        return 0
    through = rows[-1][0]
    base = sampling.base_probability(settings_, counts, days)
    chosen = sampling.choose(
        [(str(pk), label) for pk, label in rows], probabilities, base, rng, plan.double_share
    )
    with transaction.atomic():
        moved = ReviewPlan.objects.filter(pk=plan.pk, sampled_through=plan.sampled_through).update(
            sampled_through=through, sampled_at=now
        )
        if not moved:
            return 0
        labels = dict(rows)
        ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    system=plan.system,
                    event_id=int(pk),
                    probability=probability,
                    stratum=labels[int(pk)],
                    reviews_needed=2 if double else 1,
                    sampled_at=now,
                )
                for pk, probability, double in chosen
            ],
            ignore_conflicts=True,
        )
    return len(chosen)


def _sample_incident(incident, now, rng) -> int:
    """The blast radius reviewed: about INCIDENT_SAMPLE outputs of the incident's window."""
    since, until = selectors.incident_window(incident, now)
    queued = 0
    for system in incident.systems.all():
        already = ReviewItem.objects.filter(system=system, incident=incident).count()
        if already >= INCIDENT_SAMPLE:
            continue
        events = Event.objects.filter(system=system, ts__gte=since, ts__lt=until)
        total = events.count()
        if not total:
            continue
        plan = getattr(system, "review_plan", None)
        settings_ = sampling.Plan(
            per_day=plan.per_day if plan else 40,
            oversample={},
            double_share=plan.double_share if plan else 0.05,
        )
        probability = sampling.incident_probability(total, INCIDENT_SAMPLE - already)
        rows = list(
            events.exclude(review_item__isnull=False).values_list("pk", "label")[:SAMPLING_CHUNK]
        )
        chosen = sampling.choose(
            [(str(pk), label) for pk, label in rows], {}, probability, rng, settings_.double_share
        )
        labels = dict(rows)
        created = ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    system=system,
                    event_id=int(pk),
                    incident=incident,
                    probability=p,
                    stratum=labels[int(pk)],
                    reviews_needed=2 if double else 1,
                    sampled_at=now,
                )
                for pk, p, double in chosen
            ],
            ignore_conflicts=True,
        )
        queued += len(created)
    return queued


INCIDENT_SAMPLE = 40


@transaction.atomic
def verdict_record(
    *, actor, item: ReviewItem, correct: bool, expected: str = "", note: str = ""
) -> ReviewItem:
    """A reviewer's verdict. One reviewer, one verdict per item; an item for two reviewers
    is decided when both agree, and disputed until a third settles it."""
    require(actor, "review.view")
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    if item.status == ReviewItem.Status.DONE:
        raise ReviewError("This output has been reviewed already.", "item")
    if Verdict.objects.filter(item=item, reviewer=actor).exists():
        raise ReviewError("You have judged this output already.", "item")
    verdict = Verdict.objects.create(
        item=item, reviewer=actor, correct=correct, expected=expected[:500], note=note
    )
    given = list(item.verdicts.order_by("at", "pk"))
    if item.status == ReviewItem.Status.DISPUTED or len(given) >= item.reviews_needed:
        agreed = {v.correct for v in given[:2]}
        # A third look settles a dispute; two who agree decide.
        if item.status == ReviewItem.Status.DISPUTED or len(agreed) == 1:
            item.status, item.correct = ReviewItem.Status.DONE, verdict.correct
        else:
            item.status = ReviewItem.Status.DISPUTED
        if item.status == ReviewItem.Status.DONE:
            item.decided_at = verdict.at
        item.save(update_fields=["status", "correct", "decided_at"])
    audit_record(
        actor=actor,
        verb="review.verdict",
        target=item,
        after={"correct": correct, "expected": expected[:500], "note": note, "status": item.status},
    )
    return item
