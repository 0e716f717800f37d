"""Ingesting events: a checked batch stored exactly once and counted into the rollups, and
scores that come after their event."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
from django.conf import settings
from django.db import connection, transaction

from core.errors import ServiceError
from monitoring import contract, ingest_rows, partitions, rollups
from monitoring.models import Event, Monitor
from monitoring.services.hour_sums import hours_add_late
from monitoring.services.retention import day_tables_analyze, day_tables_ensure
from rollbacks.selectors import version_refs

_encode = msgspec.json.encode

# An id stored for an event this close in time to a new one makes the new one a duplicate.
DUPLICATE_WINDOW = timedelta(days=1)


class IngestError(ServiceError):
    """A batch refused whole; `problems` are `{"index", "field", "message"}`, every one of
    them (the API answers them all, each with its event's index)."""

    def __init__(self, problems: list[dict]):
        super().__init__(problems[0]["message"], problems[0]["field"])
        self.problems = problems


def events_ingest(
    *, system, payload=None, body: bytes | None = None, now: datetime | None = None
) -> dict:
    """Store a batch of events exactly once and add them to the rollups, in one transaction:
    `payload` as dicts, or the event API's `body`, JSON (`contract.NotJSON` if it is not).

    A batch with any invalid event stores nothing. An event whose id the system already
    sent (in this batch or an earlier one) is counted as a duplicate, not stored again:
    that is what lets a sender retry after a lost reply."""
    if body is not None:
        checked, problems = contract.events_decode(body, now)
    else:
        checked, problems = contract.events_check(payload, now)
    if not problems:
        problems = expired_problems(system, checked, now)
    if problems:
        raise IngestError(problems)
    return checked_store(system=system, checked=checked, now=now)


def expired_problems(system, checked: list[contract.Checked], now: datetime | None) -> list[dict]:
    """An event older than its system keeps events would be dropped at once: refused, by
    index (of a batch whose events all passed the contract)."""
    oldest = partitions.oldest_kept(now or datetime.now(UTC), system.retention_days)
    return [
        {
            "index": index,
            "field": "ts",
            "message": f"Older than this system keeps events ({system.retention_days} days).",
        }
        for index, event in enumerate(checked)
        if event.ts < oldest
    ]


def checked_store(*, system, checked: list[contract.Checked], now: datetime | None = None) -> dict:
    """Store events already checked against the contract (`contract.events_check`) exactly
    once and add them to the rollups, in one transaction: what `events_ingest` does with a
    valid batch, and what the OpenTelemetry receiver does with the spans that passed."""
    if not checked:
        return {"accepted": 0, "duplicates": 0}
    unique = list({event.client_id: event for event in reversed(checked)}.values())[::-1]
    patterns, inputs, thresholds = _watched(system)
    received_at = now or datetime.now(UTC)
    width = settings.FAILSAFE_ROLLUP_SECONDS
    # Inside a caller's transaction (the OTLP receiver's, which counts its intake too) no
    # savepoint: a failure here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _day_tables_ready(system, unique)
        known = _stored_before(system, unique)
        new = [event for event in unique if event.client_id not in known]
        if not new:
            return {"accepted": 0, "duplicates": len(checked)}
        rows, served, totals = ingest_rows.rows_and_counts(
            new,
            version_refs(system),
            received_at,
            width,
            patterns,
            inputs,
            thresholds,
            system.retention_days,
            system.pk,
        )
        if connection.vendor == "postgresql":
            stored = _store_copy(system, new, rows)
        else:
            stored = _store_orm(system, new, served, received_at)
        if len(stored) < len(new):  # a concurrent sender stored some: count only ours
            ours = [(e, v) for e, v in zip(new, served, strict=True) if e.client_id in stored]
            totals = rollups.count(
                [event for event, _ in ours],
                [versions for _, versions in ours],
                width,
                patterns,
                inputs,
                thresholds,
            )
        _rollups_add(system, totals)
    return {"accepted": len(stored), "duplicates": len(checked) - len(stored)}


def scores_add(*, system, scores: dict[str, dict[str, float]]) -> dict:
    """Scores that come after their event (an evaluator that ran later), `{event id:
    {name: value}}` with values already checked: each is added to its stored event unless
    that event already has a score of that name (so a resent score counts once), and to
    the rollup cells of the event's bucket (`scores.<name>`, `score_share:<monitor>`).

    Answers `{"added": scores added, "missing": the ids of events not stored}`. The
    event rows are locked while they are read, so two senders of the same score add it
    once."""
    _, _, thresholds = _watched(system)
    width = settings.FAILSAFE_ROLLUP_SECONDS
    totals: Counter = Counter()
    added = 0
    with transaction.atomic():
        events = (
            Event.objects.select_for_update()
            .filter(system=system, client_id__in=list(scores))
            .order_by("pk")
            .only("client_id", "ts", "versions", "served", "scores")
        )
        found = set()
        for event in events:
            found.add(event.client_id)
            new = {n: v for n, v in scores[event.client_id].items() if n not in event.scores}
            if not new:
                continue
            Event.objects.filter(pk=event.pk).update(scores=event.scores | new)
            where = rollups.served_key(event.served, event.versions)
            rollups.scores_count(totals, rollups.bucket_of(event.ts, width), where, new, thresholds)
            added += len(new)
        _rollups_add(system, totals)
    return {"added": added, "missing": sorted(set(scores) - found)}


def _watched(system):
    """What only some monitors need counted: their regexes, input features and score
    thresholds."""
    patterns: dict[int, re.Pattern] = {}
    inputs: dict[str, bool] = {}
    thresholds: dict[int, tuple[str, float, bool]] = {}
    for pk, kind, target, numeric, threshold, below in Monitor.objects.filter(
        system=system,
        enabled=True,
        kind__in=[Monitor.Kind.PATTERN, Monitor.Kind.INPUT_FEATURE, Monitor.Kind.SCORE_SHARE],
    ).values_list("pk", "kind", "target", "numeric", "threshold", "below"):
        if kind == Monitor.Kind.PATTERN:
            patterns[pk] = re.compile(target)
        elif kind == Monitor.Kind.SCORE_SHARE:
            if threshold is not None:  # monitor_create requires one
                thresholds[pk] = (target, threshold, below)
        else:
            inputs[target] = numeric
    return patterns, inputs, thresholds


EVENT_COLUMNS = (
    "client_id, ts, received_at, input, label, score, text, refused, versions, served, "
    "actions, subject, scores, error, finish_reason, input_tokens, output_tokens, provider, "
    "retention_days, system_id"
)


INCOMING_TABLE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_event ("
    "client_id text, ts timestamptz, received_at timestamptz, input jsonb, "
    "label text, score double precision, text text, refused boolean, "
    "versions jsonb, served jsonb, actions jsonb, subject text, scores jsonb, "
    "error text, finish_reason text, input_tokens integer, output_tokens integer, "
    "provider text, retention_days smallint, system_id bigint"
    ") ON COMMIT DELETE ROWS"
)


def _stored_before(system, events: list[contract.Checked]) -> set[str]:
    """The ids of these events that the system already stored within `DUPLICATE_WINDOW` of
    the event's time: a retry (the same time) or the same id recorded again later."""
    times = {event.client_id: event.ts for event in events}
    lowest, highest = min(times.values()) - DUPLICATE_WINDOW, max(times.values()) + DUPLICATE_WINDOW
    if connection.vendor == "postgresql":
        # One index scan for the whole batch, whatever plan the statistics lead to: at best
        # a probe of the unique key's (system, client_id) prefix per id, at worst a read of
        # the system's events in the window once. (A join probing per id, when the planner
        # takes a day table or a system for nearly empty, was seen to read the system's
        # events in the window for each id.) The ids go as JSON, written by msgspec in C:
        # psycopg adapts a list element by element.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT client_id, ts FROM monitoring_event WHERE system_id = %s "
                "AND client_id = ANY(ARRAY(SELECT json_array_elements_text(%s::json))) "
                "AND ts BETWEEN %s AND %s",
                [system.pk, _encode(sorted(times)).decode(), lowest, highest],
            )
            found = cursor.fetchall()
    else:
        found = Event.objects.filter(
            system=system, client_id__in=list(times), ts__range=(lowest, highest)
        ).values_list("client_id", "ts")
    return {client_id for client_id, ts in found if abs(ts - times[client_id]) <= DUPLICATE_WINDOW}


def copy_incoming(cursor, rows: bytes) -> None:
    """COPY a batch's rows (`ingest_rows.rows_and_counts`, COPY's text format) into this
    connection's temporary table (emptied at commit, and before each batch: two batches
    in one transaction must not see each other's rows)."""
    cursor.execute(INCOMING_TABLE)
    cursor.execute("TRUNCATE incoming_event")
    with cursor.copy(f"COPY incoming_event ({EVENT_COLUMNS}) FROM STDIN") as copy:
        copy.write(rows)


def _day_tables_ready(system, events: list[contract.Checked]) -> None:
    """Make the batch's day tables before the batch reads the events table: making one
    takes the parent's exclusive lock under an advisory lock, and a batch that waited for
    that advisory lock while holding its read of the parent would deadlock with it."""
    days = {partitions.day_of(event.ts) for event in events}
    with connection.cursor() as wrapper:
        unanalysed = day_tables_ensure(wrapper.cursor, system.retention_days, days)
    if unanalysed:  # after the commit: ANALYZE holds its lock until the transaction ends
        transaction.on_commit(lambda: day_tables_analyze(unanalysed), robust=True)


def _store_copy(system, events: list[contract.Checked], rows: bytes) -> set[str]:
    """PostgreSQL: COPY the batch's rows (of `events`, not stored before: `_stored_before`)
    straight into the events table; answers the ids stored.

    A sender storing some of the same events meanwhile makes the COPY fail on the unique
    key (which includes the time: a retry resends the same time). Then, the COPY undone,
    the batch goes through a temporary table and `INSERT ... ON CONFLICT DO NOTHING`, whose
    `RETURNING` says which were still new, so only those reach the rollups."""
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        try:
            with transaction.atomic():
                with cursor.copy(f"COPY monitoring_event ({EVENT_COLUMNS}) FROM STDIN") as copy:
                    copy.write(rows)
                return {event.client_id for event in events}
        except psycopg.errors.UniqueViolation:
            pass
        copy_incoming(cursor, rows)
        cursor.execute(
            f"INSERT INTO monitoring_event ({EVENT_COLUMNS}) "  # noqa: S608 (constants)
            f"SELECT {EVENT_COLUMNS} FROM incoming_event "
            "ON CONFLICT (system_id, client_id, retention_days, ts) DO NOTHING "
            "RETURNING client_id"
        )
        return {row[0] for row in cursor.fetchall()}


def _store_orm(system, events, served, received_at) -> set[str]:
    """SQLite (the demo): one writer at a time, so what `_stored_before` did not find is
    new."""
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
            actions=[{"type": a.type, "subject": a.subject} for a in event.actions],
            subject=event.subject,
            scores=event.scores,
            error=event.error,
            finish_reason=event.finish_reason,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            provider=event.provider,
            retention_days=system.retention_days,
        )
        for event, versions in zip(events, served, strict=True)
    )
    return {event.client_id for event in events}


def _rollups_add(system, totals) -> None:
    """Add the batch's counts to the rollup cells, in one statement (and those late for an
    hour already summed to its sum, `hour_sums.hours_add_late`).

    Cells are sorted so concurrent batches lock shared cells in the same order (no
    deadlock)."""
    if not totals:
        return
    hours_add_late(system, totals)
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
