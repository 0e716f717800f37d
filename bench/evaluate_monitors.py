"""Monitor evaluation with history: the baseline refresh over a week of compacted rollups
at 10^6 and 10^7 stored events, and the steady evaluation of 5,000 monitors over 1,000
systems across 2 shards (docs/PERFORMANCE.md: <= 1 s each, the refresh flat within 1.2x),
each beside the old path measured in the same run.

1. Baselines. 100 systems (`bench-eval-0000` ...), refund classifiers with 5 monitors each
   made by `monitor_create`: fraud share, refusal rate, account holds, text length and
   score. 10^6 events spread evenly over the last 8 days (a week of baseline, and a day
   more so that compaction makes 1-hour cells too), written with SQL as raw events
   (`INSERT ... SELECT ... generate_series`) in time order, their rollups aggregated from
   those rows with ingestion's buckets, signals, keys and bins (checked on a sample hour
   against `rollups.count`, the function ingestion uses). Then:
   - `rollups_compact()` (timed; it sums the old hours too, `services.hour_sums`), then
     every baseline from scratch (what a new monitor does once, and every monitor daily)
     three ways, each over the same compacted cells: the old path (3 queries per monitor
     over the cells, counted whole), `baselines_refresh` one system at a time, and
     `baselines_refresh` for a batch of systems at once (as the evaluation calls it);
     all three give the same counts;
   - an hour of traffic later, the hourly refresh: the old path counts the window whole
     again, the new one moves it on (`services.baselines`); both give the same counts.
   Then 9 x 10^6 older events (10^7 in all, the history spanning 80 days): the 8 days'
   raw events copied 9 times, each copy 8 days earlier than the last with new ids, into
   their day tables, and with them the 1-hour cells and hour sums compaction and
   `hour_sums` leave of history that old (counted once from the 8 days' events and moved:
   checked on one system's first copy against a recount of its raw events). Then the same
   again, an hour later.
2. Steady evaluation. 1,000 systems (`bench-shard-0000` ...) with the same 5 monitors
   (5,000); their history is 6,000 events each two days ago, written straight as the
   1-minute cells compaction leaves (no raw events: evaluation reads rollups only; one
   system's cells made from generated events, copied to the others), then
   one cold run. Then `--runs` rounds, each: 4 s of new traffic for every system (10
   events/s each, as 2-second cells), evaluated in one process by the old path (per
   system and per monitor, `old_evaluate`); 4 s more, by `monitors_evaluate` in one
   process (one beat task for every system); 4 s more, by 2 shards in 2 processes at
   once (`monitors_evaluate(shard=s, shards=2)`). The medians are the figures.

`monitors_evaluate(now=...)` is called with the clock of the generated traffic. The bench
systems' rows are deleted at the start and, unless `--keep`, at the end.

    .venv/bin/python bench/evaluate_monitors.py [--runs 7] [--keep]
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import check, person, setup_django

COLD_PREFIX, STEADY_PREFIX = "bench-eval-", "bench-shard-"
SPAN = timedelta(days=8)  # the cold part's history
STEADY_RATE = 10  # events per second per system, steady part
STEP_SECONDS = 4  # new traffic before each steady-state run
TARGET_SECONDS = 1.0
VERSIONS = '{"model": "1", "prompt": "1"}'
SERVED = '{"model": null, "prompt": null}'  # no registry: the refs are kept as sent
SERVED_KEY = "model:?1|prompt:?1"
MONITORS = [  # name, kind, target
    ("Fraud share", "category_share", "fraud"),
    ("Refusal rate", "refusal_rate", ""),
    ("Account holds", "action_rate", "account_hold"),
    ("Reason length", "numeric", "length"),
    ("Score", "numeric", "score"),
]


# --- Set-up --------------------------------------------------------------------------------


def prepare(prefix: str, count: int) -> list[int]:
    """The systems with their action catalog and 5 fresh monitors each; their events and
    rollups (and any other bench system's monitors) deleted."""
    from django.db import connection

    from monitoring.models import (
        EvaluationClaim,
        Monitor,
        RollupCompaction,
        RollupHour,
        RollupHourMark,
    )
    from monitoring.services.monitors import monitor_create
    from systems.models import ActionType, AISystem

    owner = person("bench-owner", "Responder")
    every = list(AISystem.objects.filter(slug__startswith="bench-").values_list("pk", flat=True))
    Monitor.objects.filter(system_id__in=every).delete()
    EvaluationClaim.objects.all().delete()
    RollupCompaction.objects.all().delete()
    RollupHour.objects.all().delete()
    RollupHourMark.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM monitoring_event WHERE system_id = ANY(%s)", [every])
        cursor.execute("DELETE FROM monitoring_rollup WHERE system_id = ANY(%s)", [every])
    compact_space()
    ids = []
    for n in range(count):
        system, _ = AISystem.objects.get_or_create(
            slug=f"{prefix}{n:04d}",
            defaults={"name": f"Bench {prefix}{n:04d}", "kind": "classifier", "owner": owner},
        )
        for name, reversible in (("refund_issue", False), ("account_hold", True)):
            ActionType.objects.get_or_create(
                system=system, name=name, defaults={"reversible": reversible, "user_visible": True}
            )
        for name, kind, target in MONITORS:
            monitor_create(actor=owner, system=system, name=name, kind=kind, target=target)
        ids.append(system.pk)
    others = Monitor.objects.filter(enabled=True).exclude(system_id__in=ids).count()
    check(others == 0, f"{others} other enabled monitors in the bench database")
    return ids


def compact_space() -> None:
    """Give deleted rows' space back, then a checkpoint, so timed runs do not share the disk
    with the flushing of bulk writes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL ANALYZE monitoring_event")
        cursor.execute("VACUUM FULL ANALYZE monitoring_rollup")
        cursor.execute("CHECKPOINT")


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE monitoring_event")
        cursor.execute("VACUUM ANALYZE monitoring_rollup")
        cursor.execute("CHECKPOINT")


# --- Traffic, written with SQL -------------------------------------------------------------


def _pick(texts, index_sql: str) -> str:
    quoted = ", ".join("'" + t.replace("'", "''") + "'" for t in texts)
    return f"(ARRAY[{quoted}])[1 + floor({index_sql} * {len(texts)})::int]"


def _length_bin_sql(column: str) -> str:
    from monitoring.rollups import LENGTH_BINS, LENGTH_EDGES

    whens = " ".join(
        f"WHEN length({column}) < {edge} THEN '{LENGTH_BINS[n]}'"
        for n, edge in enumerate(LENGTH_EDGES[1:])
    )
    return f"CASE {whens} ELSE '{LENGTH_BINS[-1]}' END"


def _score_bin_sql(column: str) -> str:
    return (
        f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} < 0 THEN '<0' "
        f"WHEN {column} > 1 THEN '>1' "
        f"ELSE to_char(least(floor({column} * 10), 9) / 10.0, 'FM0.0') END"
    )


def _generated(tie: str) -> str:
    """FROM items: event g at %(t0)s + (g - %(offset)s) / %(rate)s with its random draws
    (`+ 0 * g` ties each draw to its row: an uncorrelated subquery would run once)."""
    return f"""generate_series(%(first)s::bigint, %(last)s::bigint - 1) AS g,
    LATERAL (SELECT to_timestamp(%(t0)s + (g - %(offset)s)::double precision / %(rate)s) AS ts,
        random() + {tie} AS rl, random() + {tie} AS rs, random() + {tie} AS rt,
        random() + {tie} AS rf, random() + {tie} AS ra, random() + {tie} AS rc,
        random() + {tie} AS rd, random() + {tie} AS ru) AS r,
    LATERAL (SELECT CASE WHEN r.rl < 0.02 THEN 'fraud' WHEN r.rl < 0.10 THEN 'review'
        ELSE 'approve' END AS label) AS x"""


def _text_sql() -> str:
    from monitoring.simulator import REASONS, REFUSAL_TEXT

    return f"""CASE WHEN r.rf < 0.01 THEN '{REFUSAL_TEXT.replace("'", "''")}'
        WHEN x.label = 'fraud' THEN {_pick(REASONS["fraud"], "r.rt")}
        WHEN x.label = 'review' THEN {_pick(REASONS["review"], "r.rt")}
        ELSE {_pick(REASONS["approve"], "r.rt")} END"""


SCORE_SQL = """round((CASE x.label WHEN 'fraud' THEN 0.75 + 0.24 * r.rs
        WHEN 'review' THEN 0.35 + 0.35 * r.rs ELSE 0.01 + 0.3 * r.rs * r.rs END)::numeric, 4)"""
ACTION_SQL = """CASE WHEN r.rf < 0.01 OR x.label = 'review' THEN NULL
        WHEN x.label = 'fraud' THEN 'account_hold' ELSE 'refund_issue' END"""


def events_sql() -> str:
    """Events number %(first)s to %(last)s of every system in %(systems)s, with the
    simulator's texts."""
    return f"""
INSERT INTO monitoring_event (system_id, client_id, ts, received_at, input, label, score,
    text, refused, versions, served, actions, subject, scores, error, finish_reason, provider,
    retention_days)
SELECT s, 'e-' || lpad(g::text, 9, '0'), r.ts, r.ts + interval '1 second',
    jsonb_build_object('amount', round((5 + 400 * r.ra * r.ra)::numeric, 2),
        'country', (ARRAY['US','GB','DE','FR','CA','NL','ES','IT'])[1 + floor(r.rc * 8)::int],
        'channel', (ARRAY['web','app','phone'])[1 + floor(r.rd * 3)::int]),
    x.label, {SCORE_SQL}, {_text_sql()}, r.rf < 0.01, '{VERSIONS}', '{SERVED}',
    CASE WHEN {ACTION_SQL} IS NULL THEN '[]'::jsonb
        ELSE jsonb_build_array(jsonb_build_object('type', {ACTION_SQL},
            'subject', 'cus_' || lpad(floor(r.ru * 5000)::text, 5, '0'))) END,
    'cus_' || lpad(floor(r.ru * 5000)::text, 5, '0'), '{{}}', '', '', '', 30
FROM unnest(%(systems)s::bigint[]) AS s, {_generated("0 * g + 0 * s")}
"""  # noqa: S608


_CELLS = """(VALUES
    ('events', ''),
    ('label', nullif(e.label, '')),
    ('refused', CASE WHEN e.refused THEN '' END),
    ('length', CASE WHEN e.text <> '' THEN {length} END),
    ('score', {score}),
    ('action', e.action)
) AS c(signal, key)"""


def rollups_sql() -> str:
    """The rollups of the systems' events number %(first)s to %(last)s, as ingestion
    counts them (2-second cells)."""
    cells = _CELLS.format(length=_length_bin_sql("e.text"), score=_score_bin_sql("e.score"))
    return f"""
INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n)
SELECT e.system_id, to_timestamp(floor(extract(epoch FROM e.ts) / %(width)s) * %(width)s),
    c.signal, c.key, '{SERVED_KEY}', count(*)
FROM (SELECT system_id, ts, label, refused, text, score, actions -> 0 ->> 'type' AS action
    FROM monitoring_event WHERE system_id = ANY(%(systems)s)
        AND client_id >= 'e-' || lpad(%(first)s::text, 9, '0')
        AND client_id < 'e-' || lpad(%(last)s::text, 9, '0')) AS e
CROSS JOIN LATERAL {cells}
WHERE c.key IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (system_id, signal, bucket, key, served)
    DO UPDATE SET n = monitoring_rollup.n + EXCLUDED.n
"""  # noqa: S608


def cells_sql() -> str:
    """Cells of %(width)s seconds (stored with width %(stored)s) counting events number
    %(first)s to %(last)s of every system in %(systems)s, made on the fly: no raw rows."""
    cells = _CELLS.format(length=_length_bin_sql("e.text"), score=_score_bin_sql("e.score"))
    return f"""
INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n, width)
SELECT e.system_id, to_timestamp(floor(extract(epoch FROM e.ts) / %(width)s) * %(width)s),
    c.signal, c.key, '{SERVED_KEY}', count(*), %(stored)s
FROM (SELECT s AS system_id, r.ts, x.label, r.rf < 0.01 AS refused, {_text_sql()} AS text,
        {SCORE_SQL} AS score, {ACTION_SQL} AS action
    FROM unnest(%(systems)s::bigint[]) AS s, {_generated("0 * g + 0 * s")}) AS e
CROSS JOIN LATERAL {cells}
WHERE c.key IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (system_id, signal, bucket, key, served)
    DO UPDATE SET n = monitoring_rollup.n + EXCLUDED.n
"""  # noqa: S608


def add_events(ids, t0: float, rate: float, first: int, last: int, piece: float) -> None:
    """Raw events `first` to `last` (exclusive) of every system, event g at
    t0 + (g - first) / rate, and their 2-second rollups, written in time order (as
    ingestion writes them: the BRIN index compaction reads relies on it), `piece` seconds
    of traffic per transaction."""
    from django.conf import settings
    from django.db import connection, transaction

    from monitoring import partitions
    from monitoring.services.retention import day_tables_ensure

    events, rollups = events_sql(), rollups_sql()
    step = max(int(piece * rate), 1)
    first_day = partitions.day_of(datetime.fromtimestamp(t0, UTC))
    last_day = partitions.day_of(datetime.fromtimestamp(t0 + (last - first) / rate, UTC))
    days = {first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)}
    with transaction.atomic(), connection.cursor() as cursor:
        day_tables_ensure(cursor.cursor, 30, days)  # the bench systems keep the default
    with connection.cursor() as cursor:
        for start in range(first, last, step):
            params = {"systems": list(ids), "t0": t0 + (start - first) / rate, "rate": rate}
            params |= {"first": start, "last": min(start + step, last), "offset": start}
            params["width"] = settings.FAILSAFE_ROLLUP_SECONDS
            with transaction.atomic():
                cursor.execute(events, params)
                cursor.execute(rollups, params)


def add_cells(ids, t0: float, rate: float, first: int, last: int, width: int, stored: int):
    """Cells only (see cells_sql), in one statement for every system."""
    from django.db import connection

    params = {"first": first, "last": last, "t0": t0, "rate": rate, "offset": first}
    params |= {"width": width, "stored": stored, "systems": list(ids)}
    with connection.cursor() as cursor:
        cursor.execute(cells_sql(), params)


HOUR_CELLS_SQL = """
SELECT e.system_id, to_timestamp(floor(extract(epoch FROM e.ts) / 3600) * 3600) AS bucket,
    c.signal, c.key, '{served}' AS served, count(*) AS n
FROM (SELECT system_id, ts, label, refused, text, score, actions -> 0 ->> 'type' AS action
    FROM monitoring_event WHERE system_id = ANY(%(systems)s)
        AND ts >= to_timestamp(%(since)s) AND ts < to_timestamp(%(until)s)) AS e
CROSS JOIN LATERAL {cells}
WHERE c.key IS NOT NULL
GROUP BY 1, 2, 3, 4
"""
EVENT_COLUMNS = (
    "system_id, client_id, ts, received_at, input, label, score, text, refused, versions, "
    "served, actions, subject, scores, error, finish_reason, provider, retention_days"
)


def hour_cells_sql() -> str:
    """The 1-hour cells of the systems' raw events in [%(since)s, %(until)s): what
    compaction leaves of their 2-second cells once they are a week old."""
    cells = _CELLS.format(length=_length_bin_sql("e.text"), score=_score_bin_sql("e.score"))
    return HOUR_CELLS_SQL.format(served=SERVED_KEY, cells=cells)


def add_history(ids, t0: float, span: float, copies: int) -> None:
    """Older raw events: `copies` copies of the systems' events of [t0, t0 + span), the
    k-th moved k spans earlier, with new ids, into their day tables. Their rollups are the
    1-hour cells compaction leaves of history over a week old, counted once from the
    first span's events and moved with them (span is whole hours: an event moved keeps its
    place in its hour). Much faster than generating and compacting 9 x 10^6 more events;
    the events are as real, if repetitive."""
    from django.db import connection, transaction

    from monitoring import partitions
    from monitoring.services.retention import day_tables_ensure

    first_day = partitions.day_of(datetime.fromtimestamp(t0 - copies * span, UTC))
    last_day = partitions.day_of(datetime.fromtimestamp(t0, UTC))
    days = {first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)}
    with transaction.atomic(), connection.cursor() as cursor:
        day_tables_ensure(cursor.cursor, 30, days)
    params = {"systems": list(ids), "since": t0, "until": t0 + span}
    copied = ", ".join(
        {
            "client_id": "'h' || %(copy)s || '-' || client_id",
            "ts": "ts - %(shift)s * interval '1 second'",
            "received_at": "received_at - %(shift)s * interval '1 second'",
        }.get(column, column)
        for column in EVENT_COLUMNS.split(", ")
    )
    with connection.cursor() as cursor:
        # Made, then filled: a utility statement takes no parameters.
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_hours (system_id bigint, bucket timestamptz, "
            "signal text, key text, served text, n bigint)"
        )
        cursor.execute(f"INSERT INTO bench_hours {hour_cells_sql()}", params)
        for copy in range(1, copies + 1):
            moved = params | {"copy": copy, "shift": copy * span}
            with transaction.atomic():
                cursor.execute(
                    f"INSERT INTO monitoring_event ({EVENT_COLUMNS}) SELECT {copied} "  # noqa: S608
                    "FROM monitoring_event WHERE system_id = ANY(%(systems)s) "
                    "AND ts >= to_timestamp(%(since)s) AND ts < to_timestamp(%(until)s)",
                    moved,
                )
                cursor.execute(
                    "INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n, "
                    "width) SELECT system_id, bucket - %(shift)s * interval '1 second', signal, "
                    "key, served, n, 3600 FROM bench_hours",
                    moved,
                )
                # Their hour sums, as `hour_sums` keeps them (one served key: the same rows).
                cursor.execute(
                    "INSERT INTO monitoring_rolluphour (system_id, hour, signal, key, n) "
                    "SELECT system_id, bucket - %(shift)s * interval '1 second', signal, key, n "
                    "FROM bench_hours",
                    moved,
                )
        cursor.execute("DROP TABLE bench_hours")


def check_history(system_id: int, t0: float, span: float) -> int:
    """The 1-hour cells of one system's first copy equal a recount of its raw events."""
    from django.db import connection

    from monitoring.models import Rollup

    params = {"systems": [system_id], "since": t0 - span, "until": t0}
    with connection.cursor() as cursor:
        cursor.execute(hour_cells_sql(), params)
        counted = Counter({tuple(row[1:5]): row[5] for row in cursor.fetchall()})
    since, until = (datetime.fromtimestamp(t, UTC) for t in (t0 - span, t0))
    stored = Counter(
        {
            (bucket, signal, key, served): n
            for bucket, signal, key, served, n in Rollup.objects.filter(
                system_id=system_id, bucket__gte=since, bucket__lt=until
            ).values_list("bucket", "signal", "key", "served", "n")
        }
    )
    check(stored == counted, f"history cells differ: {(stored - counted) or (counted - stored)}")
    return len(stored)


def check_rollups(system, since: datetime, until: datetime) -> int:
    """The SQL-made rollups of a window equal what ingestion counts for its raw events."""
    from django.conf import settings

    from monitoring import contract, rollups
    from monitoring.models import Event, Rollup

    raw, served = [], []
    for event in Event.objects.filter(system=system, ts__gte=since, ts__lt=until):
        raw.append(
            {
                "id": event.client_id,
                "ts": event.ts.isoformat(),
                "input": event.input,
                "output": {"label": event.label, "score": event.score, "text": event.text},
                "refused": event.refused,
                "versions": event.versions,
                "actions": event.actions,
                "subject": event.subject,
            }
        )
        served.append(event.served)
    checked, problems = contract.events_check({"events": raw}, now=until + timedelta(days=1))
    check(not problems, f"generated events are not valid: {problems[:2]}")
    expected = rollups.count(checked, served, settings.FAILSAFE_ROLLUP_SECONDS)
    found = Counter(
        {
            (bucket, signal, key, where): n
            for bucket, signal, key, where, n in Rollup.objects.filter(
                system=system, bucket__gte=since, bucket__lt=until
            ).values_list("bucket", "signal", "key", "served", "n")
        }
    )
    check(found == +expected, f"rollups differ: {(found - expected) or (expected - found)}")
    return len(found)


# --- Measuring -----------------------------------------------------------------------------


class Queries:
    """Counts the SQL queries of the default connection."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


def _monitors(ids) -> dict[int, list]:
    from monitoring.models import Monitor

    by_system: dict[int, list] = {}
    for monitor in Monitor.objects.filter(system_id__in=ids).select_related("system"):
        monitor.baseline_at = None
        by_system.setdefault(monitor.system_id, []).append(monitor)
    return by_system


def old_baselines(by_system: dict, now: datetime) -> None:
    """The baseline refresh as it was before: per monitor, its first bucket, then the
    denominator's counts and the signal's, over the (same) window, counted whole each time
    (3 queries per monitor)."""
    from monitoring.models import Rollup
    from monitoring.selectors.signals import baseline_window, observed

    for monitors in by_system.values():
        for monitor in monitors:
            since, until = baseline_window(monitor, now)
            first = (
                Rollup.objects.filter(
                    system=monitor.system, signal=monitor.denominator[0], bucket__gte=since
                )
                .order_by("bucket")
                .values_list("bucket", flat=True)
                .first()
            )
            n, found = observed(monitor, since, until)
            days = ((until - max(since, first)).total_seconds() / 86400) if first else 0.0
            monitor.baseline = {"n": n, "counts": found, "days": days}


def system_baselines(by_system: dict, now: datetime) -> None:
    """The refresh before batching: `baselines_refresh` one system at a time."""
    from monitoring.services.baselines import baselines_refresh

    for monitors in by_system.values():
        baselines_refresh(monitors, now)


def new_baselines(by_system: dict, now: datetime) -> None:
    """The refresh as the evaluation makes it: every monitor of a batch of systems (the
    shard's claim, `shards.BATCH`) at once."""
    from monitoring.services.baselines import baselines_refresh
    from monitoring.services.shards import BATCH

    systems = list(by_system)
    for start in range(0, len(systems), BATCH):
        baselines_refresh([m for s in systems[start : start + BATCH] for m in by_system[s]], now)


def timed(refresh, by_system: dict, now) -> tuple[float, int, dict]:
    """One refresh of the systems' due baselines: seconds, queries, the baselines."""
    from django.db import connection

    queries = Queries()
    with connection.execute_wrapper(queries):
        started = time.perf_counter()
        refresh(by_system, now)
        seconds = time.perf_counter() - started
    found = {m.pk: (m.baseline["n"], m.baseline["counts"]) for ms in by_system.values() for m in ms}
    return seconds, queries.count, found


def cells_in_window(ids, now: datetime) -> str:
    from django.db.models import Count

    from monitoring.models import Rollup

    rows = Rollup.objects.filter(
        system_id__in=ids, bucket__gte=now - timedelta(days=7), bucket__lt=now
    )
    widths = dict(rows.values_list("width").annotate(n=Count("*")).values_list("width", "n"))
    return ", ".join(f"{n:,} of width {w or 2} s" for w, n in sorted(widths.items()))


def cold_part(ids, now: datetime, compact: bool) -> dict:
    """Every baseline counted from scratch, after compaction: the old path (3 queries per
    monitor), the refresh one system at a time (before batching), the batched one."""
    from monitoring.services.compaction import rollups_compact

    if compact:
        print(f"  cells in the 7-day window before compaction: {cells_in_window(ids, now)}")
        started = time.perf_counter()
        written = rollups_compact(now=now)
        took = time.perf_counter() - started
        print(
            f"  rollups_compact: {took:.1f} s, {written[60]:,} 1-minute and {written[3600]:,} "
            f"1-hour cells written ({load()})"
        )
        vacuum()
    print(f"  cells in the 7-day window: {cells_in_window(ids, now)}")
    old, old_queries, old_found = timed(old_baselines, _monitors(ids), now)
    print(f"  first count, old path: {old:.2f} s, {old_queries:,} queries ({load()})")
    each, each_queries, each_found = timed(system_baselines, _monitors(ids), now)
    print(f"  first count, per system: {each:.2f} s, {each_queries:,} queries ({load()})")
    kept = _monitors(ids)
    new, new_queries, new_found = timed(new_baselines, kept, now)
    print(f"  first count, batched: {new:.2f} s, {new_queries:,} queries ({load()})")
    check(each_found == old_found, "the per-system baselines differ from the old path's")
    check(new_found == old_found, "the batched baselines differ from the old path's")
    return {"old": old, "each": each, "new": new, "kept": kept}


def hourly_part(ids, kept: dict, now: datetime, rate: float, g: int) -> dict:
    """An hour of traffic, then the hourly refresh: the old path counts the window again,
    the new moves it on (what came in added, the hour that left taken off)."""
    hour = int(3600 * rate)
    add_events(ids, now.timestamp(), rate, g, g + hour, 600)
    # Whole 2-second buckets: a bucket still filling when the window was counted would be
    # missed by the move until the daily recount (services.baselines), and the check fail.
    later = now + timedelta(hours=1, seconds=6)
    old, old_queries, old_found = timed(old_baselines, _monitors(ids), later)
    new, new_queries, new_found = timed(new_baselines, kept, later)
    check(new_found == old_found, "the moved baselines differ from a fresh count")
    print(
        f"  an hour later ({hour * len(ids):,} new events): hourly refresh, old path "
        f"{old:.2f} s ({old_queries:,} queries), new path {new:.3f} s ({new_queries:,} "
        f"queries), the same counts ({load()})"
    )
    return {"old": old, "new": new, "g": g + hour, "now": later}


def old_evaluate(now: datetime) -> int:
    """The evaluation before batching, in one process, made of the product's own pieces:
    per system its own savepoint and reads (baselines, new cells, each shape monitor's
    window), per monitor one conditional UPDATE (`evaluation_save`). Answers the monitors
    evaluated."""
    from collections import defaultdict

    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from monitoring import rollups
    from monitoring.models import Monitor
    from monitoring.services import evaluation
    from monitoring.services.baselines import baselines_refresh
    from monitoring.services.shards import claims_open, systems_claim, systems_release

    lag = timedelta(seconds=settings.FAILSAFE_EVALUATION_LAG_SECONDS)
    through = rollups.bucket_of(now - lag, settings.FAILSAFE_ROLLUP_SECONDS)
    evaluated, started = 0, timezone.now()
    claims_open(0, 1)
    while ids := systems_claim(0, 1, started):
        by_system = defaultdict(list)
        for monitor in Monitor.objects.filter(enabled=True, system_id__in=ids).select_related(
            "system"
        ):
            by_system[monitor.system_id].append(monitor)
        with transaction.atomic():
            for monitors in by_system.values():
                with transaction.atomic():
                    baselines_refresh(monitors, now)
                    rows = evaluation._new_buckets(monitors, through)
                    budget = evaluation._false_alarms_per_event(monitors)
                    for monitor in monitors:
                        windows = evaluation._shape_windows([monitor], through, now)
                        judged = evaluation._evaluate(monitor, rows, windows, through, now, budget)
                        evaluated += 1
                        if isinstance(judged, evaluation.Judged):
                            _, since, fired = judged
                            evaluation.evaluation_save(monitor, since, through, fired, now)
        systems_release(ids, evaluated=True)
    return evaluated


def _shard_run(job) -> tuple[float, dict]:
    """In a worker process: one shard's evaluation."""
    from monitoring.services.evaluation import monitors_evaluate

    now, shard, shards = job
    started = time.perf_counter()
    summary = monitors_evaluate(now=now, shard=shard, shards=shards)
    return time.perf_counter() - started, summary


def steady_part(ids, runs: int, pool) -> dict:
    """Rounds of new traffic, evaluated by one process, then by 2 shards at once."""
    from django.conf import settings
    from django.db import connection

    from monitoring.services.evaluation import monitors_evaluate

    lag = settings.FAILSAFE_EVALUATION_LAG_SECONDS
    width = settings.FAILSAFE_ROLLUP_SECONDS
    end = time.time() // 3600 * 3600 - 2 * 86400  # the history: two days ago
    history = 6000
    # One system's history made from its events, then copied to the others: the same
    # counts, written in a moment rather than aggregated from 6 x 10^6 events.
    add_cells(ids[:1], end - history / STEADY_RATE, STEADY_RATE, 0, history, 60, 60)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n, width) "
            "SELECT s, bucket, signal, key, served, n, width FROM monitoring_rollup, "
            "unnest(%s::bigint[]) AS s WHERE system_id = %s",
            [list(ids[1:]), ids[0]],
        )
    g, t0 = history, time.time() // width * width - 600
    vacuum()
    started = time.perf_counter()
    cold = monitors_evaluate(now=datetime.fromtimestamp(t0 + lag, UTC))
    print(
        f"  cold run (every baseline, every detector): {time.perf_counter() - started:.2f} s, "
        f"{cold['monitors']} monitors; statuses {statuses(ids)} ({load()})"
    )
    old, single, sharded, shard_own = [], [], [], []
    step = STEP_SECONDS * STEADY_RATE
    for run in range(runs):
        for how in ("old", "single", "sharded"):
            t = t0 + (g + step - history) / STEADY_RATE
            add_cells(ids, t0 + (g - history) / STEADY_RATE, STEADY_RATE, g, g + step, width, 0)
            g += step
            now = datetime.fromtimestamp(t + lag, UTC)
            started = time.perf_counter()
            if how == "sharded":
                own = pool.map(_shard_run, [(now, 0, 2), (now, 1, 2)])
                sharded.append(time.perf_counter() - started)
                shard_own.append(max(s for s, _ in own))
                evaluated = sum(summary["monitors"] for _, summary in own)
            elif how == "single":
                evaluated = monitors_evaluate(now=now)["monitors"]
                single.append(time.perf_counter() - started)
            else:
                evaluated = old_evaluate(now)
                old.append(time.perf_counter() - started)
            check(evaluated == len(ids) * len(MONITORS), f"{evaluated} monitors evaluated")
        print(
            f"  round {run + 1}: one process, old path {old[-1]:.3f} s, batched {single[-1]:.3f} "
            f"s; 2 shards at once {sharded[-1]:.3f} s (slowest shard's own "
            f"{shard_own[-1]:.3f} s) ({load()})"
        )
    print(f"  statuses {statuses(ids)}")
    return {
        "old": statistics.median(old),
        "single": statistics.median(single),
        "sharded": statistics.median(sharded),
        "own": statistics.median(shard_own),
    }


def statuses(ids) -> dict:
    from monitoring.models import Monitor

    return dict(Counter(Monitor.objects.filter(system_id__in=ids).values_list("status", flat=True)))


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=int, default=100, help="systems, cold part")
    parser.add_argument("--small", type=int, default=1_000_000, help="stored events, first")
    parser.add_argument("--large", type=int, default=10_000_000, help="stored events, then")
    parser.add_argument("--shard-systems", type=int, default=1000, help="systems, steady part")
    parser.add_argument("--runs", type=int, default=7, help="steady-state rounds")
    parser.add_argument("--keep", action="store_true", help="leave the rows in the database")
    parser.add_argument("--parts", default="baselines,steady", help="which parts to run")
    args = parser.parse_args()

    setup_django()
    from django.conf import settings
    from django.db import connection, connections

    from monitoring.models import Event

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('work_mem')"
        )
        pg = cursor.fetchone()
    print(
        f"machine: {os.cpu_count()} cores, {load()} at start; PostgreSQL {pg[0]} "
        f"(shared_buffers {pg[1]}, work_mem {pg[2]}), shared with other users; "
        f"FAILSAFE_ROLLUP_SECONDS {settings.FAILSAFE_ROLLUP_SECONDS}"
    )

    def verdict(seconds: float) -> str:
        return "met" if seconds <= TARGET_SECONDS else f"MISSED by {seconds - TARGET_SECONDS:.2f} s"

    print(f"parts: {args.parts}")
    if "baselines" in args.parts:
        print(f"\n1. Baselines: {args.systems} systems x {len(MONITORS)} monitors")
        started = time.perf_counter()
        ids = prepare(COLD_PREFIX, args.systems)
        print(f"  systems and monitors made in {time.perf_counter() - started:.0f} s")
        width = settings.FAILSAFE_ROLLUP_SECONDS
        end = time.time() // 3600 * 3600  # now, on the hour
        t0 = end - SPAN.total_seconds()
        small, large = args.small // args.systems, args.large // args.systems
        rate = small / SPAN.total_seconds()
        started = time.perf_counter()
        add_events(ids, t0, rate, 0, small, 3600)
        vacuum()
        print(
            f"10^6: {small * len(ids):,} events over {SPAN.days} days ({rate * 3600:.0f} an hour "
            f"per system) written in {time.perf_counter() - started:.0f} s ({load()})"
        )
        newest = Event.objects.filter(system_id=ids[0]).order_by("-ts")
        last = newest.values_list("ts", flat=True)[0]
        since = datetime.fromtimestamp(last.timestamp() // width * width - 3600, UTC)
        cells = check_rollups(ids[0], since, since + timedelta(hours=1))
        print(f"  rollups of an hour of one system ({cells} cells) equal ingestion's recount")
        now = datetime.fromtimestamp(end, UTC)
        first = cold_part(ids, now, compact=True)
        first_hour = hourly_part(ids, first["kept"], now, rate, small)

        copies = (large - small) // small
        check(copies * small == large - small, "--large must be a multiple of --small")
        started = time.perf_counter()
        add_history(ids, t0, SPAN.total_seconds(), copies)
        vacuum()
        cells = check_history(ids[0], t0, SPAN.total_seconds())
        print(
            f"10^7: {copies * small * len(ids):,} older events before them ({copies} copies of "
            f"the 8 days, each 8 days earlier; the history now spans {8 * (copies + 1)} days) "
            f"with their 1-hour cells, written in {time.perf_counter() - started:.0f} s; the "
            f"cells of one system's first copy ({cells}) equal a recount of its events ({load()})"
        )
        second = cold_part(ids, first_hour["now"], compact=True)
        second_hour = hourly_part(ids, second["kept"], first_hour["now"], rate, first_hour["g"])

        print("\nBaselines, summary (target <= 1 s each):")
        for label, part, hour in (("10^6", first, first_hour), ("10^7", second, second_hour)):
            print(
                f"  {label}: hourly baseline refresh {hour['new']:.3f} s ({verdict(hour['new'])}; "
                f"old path {hour['old']:.2f} s, {hour['old'] / hour['new']:.0f}x); first count "
                f"from scratch {part['new']:.2f} s on compacted cells ({verdict(part['new'])}; "
                f"per system {part['each']:.2f} s, {part['each'] / part['new']:.1f}x; old path "
                f"{part['old']:.2f} s, {part['old'] / part['new']:.1f}x)"
            )
        for what, a, b in (
            ("hourly refresh", first_hour["new"], second_hour["new"]),
            ("first count", first["new"], second["new"]),
        ):
            flat = "within" if b / a <= 1.2 else "NOT within"
            print(f"  flat, {what}: 10^7 / 10^6 = {b / a:.2f}x ({flat} 1.2x)")
    if "steady" in args.parts:
        print(
            f"\n2. Steady evaluation: {args.shard_systems} systems x {len(MONITORS)} monitors, "
            f"{STEADY_RATE} events/s each, evaluated every {STEP_SECONDS} s of traffic"
        )
        started = time.perf_counter()
        shard_ids = prepare(STEADY_PREFIX, args.shard_systems)
        print(f"  systems and monitors made in {time.perf_counter() - started:.0f} s")
        connections.close_all()  # the workers fork: each opens its own connection
        with multiprocessing.get_context("fork").Pool(2) as pool:
            steady = steady_part(shard_ids, args.runs, pool)

        print(
            f"  steady, {len(shard_ids) * len(MONITORS)} monitors: 2 shards at once median "
            f"{steady['sharded']:.3f} s ({verdict(steady['sharded'])}; slowest shard's own "
            f"{steady['own']:.3f} s), one process {steady['single']:.3f} s "
            f"({steady['single'] / steady['sharded']:.2f}x the sharded); one process, old path "
            f"{steady['old']:.3f} s ({steady['old'] / steady['single']:.1f}x the batched) "
            f"({load()} at the end)"
        )

    if not args.keep:
        prepare(COLD_PREFIX, 0)


if __name__ == "__main__":
    main()
