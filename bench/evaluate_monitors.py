"""Evaluating every monitor of 100 systems with 10^6 and then 10^7 stored events
(docs/PERFORMANCE.md: <= 1 s, and flat in the number of stored events).

The systems (`bench-eval-000` ...) are refund classifiers, each with 5 monitors made by
`monitor_create`: fraud share (category_share), refusal rate, account holds
(action_rate), text length and score (numeric). Their traffic is 10 events/s per system
(1,000 events/s in all): about 90% approve, 8% review, 2% fraud, 1% refused, scores and
texts and actions as the simulator makes them. The history is written with SQL, not
through HTTP (the figure is about evaluation, which reads rollups and never raw events):
raw events with `INSERT ... SELECT ... generate_series`, then their rollups aggregated
from those raw rows with the same buckets, signals, keys and histogram bins as ingestion
(`monitoring.rollups`); the script checks this on a sample window by recounting its raw
events with `rollups.count`, the function ingestion uses.

1. 10^6 events (10^4 per system, the last 17 minutes), then:
   - the cold run: `monitors_evaluate()` once, which computes every baseline over the
     7-day window and calibrates every detector (each monitor does this when created and
     then once an hour);
   - steady state: `--runs` times, 4 more seconds of traffic for every system (raw events
     and rollups, 2 buckets), then `monitors_evaluate()` timed; the median is the figure.
2. 10^7 events: 9 x 10^6 older events added before the same recent traffic (the history
   now spans 2.8 hours), the monitors reset to "just created", then the same cold run and
   steady state.

`monitors_evaluate(now=...)` is called with the clock of the generated traffic (the same
function beat calls every few seconds with now = the time), so each run finds exactly the
new buckets. Timings are wall time in this process, with the SQL queries counted and timed
(a connection execute wrapper). The bench systems' events and rollups are deleted at the
start and, unless `--keep`, at the end (then `VACUUM FULL` gives their space back).

    .venv/bin/python bench/evaluate_monitors.py [--systems 100] [--runs 7] [--keep]
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import check, person, setup_django

PREFIX = "bench-eval-"
RATE = 10  # events per second per system
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


def prepare(count: int):
    """The systems with their action catalog and 5 fresh monitors each; their events and
    rollups deleted."""
    from django.db import connection

    from monitoring.models import Monitor
    from monitoring.services.monitors import monitor_create
    from systems.models import ActionType, AISystem

    owner = person("bench-owner", "Responder")
    systems = []
    for n in range(count):
        system, _ = AISystem.objects.get_or_create(
            slug=f"{PREFIX}{n:03d}",
            defaults={"name": f"Evaluation bench {n:03d}", "kind": "classifier", "owner": owner},
        )
        for name, reversible in (("refund_issue", False), ("account_hold", True)):
            ActionType.objects.get_or_create(
                system=system, name=name, defaults={"reversible": reversible, "user_visible": True}
            )
        systems.append(system)
    ids = [s.pk for s in systems]
    started = time.perf_counter()
    # Every bench system of a previous run, also of a run with more systems than this one.
    every = list(AISystem.objects.filter(slug__startswith=PREFIX).values_list("pk", flat=True))
    Monitor.objects.filter(system_id__in=every).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM monitoring_event WHERE system_id = ANY(%s)", [every])
        deleted = cursor.rowcount
        cursor.execute("DELETE FROM monitoring_rollup WHERE system_id = ANY(%s)", [every])
    if deleted:
        compact()
        print(
            f"deleted a previous run's {deleted:,} events in {time.perf_counter() - started:.0f} s"
        )
    for system in systems:
        for name, kind, target in MONITORS:
            monitor_create(actor=owner, system=system, name=name, kind=kind, target=target)
    others = Monitor.objects.filter(enabled=True).exclude(system_id__in=ids).count()
    check(
        others == 0,
        f"{others} other enabled monitors in the bench database would be evaluated too",
    )
    return systems, ids


def compact() -> None:
    """After deleting the bench's events: give their space back (VACUUM FULL rewrites what
    is left, the other benches' rows, so it is quick), then a checkpoint."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM FULL ANALYZE monitoring_event")
        cursor.execute("VACUUM FULL ANALYZE monitoring_rollup")
        cursor.execute("CHECKPOINT")


def vacuum() -> None:
    """What autovacuum would have done by now, then a checkpoint, so that the timed runs do
    not share the disk with the flushing of the bulk writes."""
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


def events_sql() -> str:
    """Events number %(first)s to %(last)s of one system, with the simulator's texts."""
    from monitoring.simulator import REASONS, REFUSAL_TEXT

    return f"""
INSERT INTO monitoring_event (system_id, client_id, ts, received_at, input, label, score,
    text, refused, versions, served, actions, subject)
SELECT %(system)s, 'e-' || lpad(g::text, 9, '0'), r.ts, r.ts + interval '1 second',
    jsonb_build_object('amount', round((5 + 400 * r.ra * r.ra)::numeric, 2),
        'country', (ARRAY['US','GB','DE','FR','CA','NL','ES','IT'])[1 + floor(r.rc * 8)::int],
        'channel', (ARRAY['web','app','phone'])[1 + floor(r.rd * 3)::int]),
    x.label,
    round((CASE x.label WHEN 'fraud' THEN 0.75 + 0.24 * r.rs
        WHEN 'review' THEN 0.35 + 0.35 * r.rs ELSE 0.01 + 0.3 * r.rs * r.rs END)::numeric, 4),
    CASE WHEN r.rf < 0.01 THEN '{REFUSAL_TEXT.replace("'", "''")}'
        WHEN x.label = 'fraud' THEN {_pick(REASONS["fraud"], "r.rt")}
        WHEN x.label = 'review' THEN {_pick(REASONS["review"], "r.rt")}
        ELSE {_pick(REASONS["approve"], "r.rt")} END,
    r.rf < 0.01, '{VERSIONS}', '{SERVED}',
    CASE WHEN r.rf < 0.01 OR x.label = 'review' THEN '[]'::jsonb
        ELSE jsonb_build_array(jsonb_build_object(
            'type', CASE x.label WHEN 'fraud' THEN 'account_hold' ELSE 'refund_issue' END,
            'subject', 'cus_' || lpad(floor(r.ru * 5000)::text, 5, '0'))) END,
    'cus_' || lpad(floor(r.ru * 5000)::text, 5, '0')
FROM generate_series(%(first)s::bigint, %(last)s::bigint - 1) AS g,
    -- `+ 0 * g` ties each draw to its row (an uncorrelated subquery would run once)
    LATERAL (SELECT to_timestamp(%(t0)s + g::double precision / {RATE}) AS ts,
        random() + 0 * g AS rl, random() + 0 * g AS rs, random() + 0 * g AS rt,
        random() + 0 * g AS rf, random() + 0 * g AS ra, random() + 0 * g AS rc,
        random() + 0 * g AS rd, random() + 0 * g AS ru) AS r,
    LATERAL (SELECT CASE WHEN r.rl < 0.02 THEN 'fraud' WHEN r.rl < 0.10 THEN 'review'
        ELSE 'approve' END AS label) AS x
"""  # noqa: S608


def rollups_sql() -> str:
    """The rollups of one system's events in [%(since)s, %(until)s), as ingestion counts."""
    return f"""
INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n)
SELECT e.system_id, to_timestamp(floor(extract(epoch FROM e.ts) / %(width)s) * %(width)s),
    c.signal, c.key, '{SERVED_KEY}', count(*)
FROM monitoring_event e CROSS JOIN LATERAL (VALUES
    ('events', ''),
    ('label', nullif(e.label, '')),
    ('refused', CASE WHEN e.refused THEN '' END),
    ('length', CASE WHEN e.text <> '' THEN {_length_bin_sql("e.text")} END),
    ('score', {_score_bin_sql("e.score")}),
    ('action', e.actions -> 0 ->> 'type')
) AS c(signal, key)
WHERE e.system_id = %(system)s AND e.ts >= %(since)s AND e.ts < %(until)s
    AND c.key IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (system_id, signal, bucket, key, served)
    DO UPDATE SET n = monitoring_rollup.n + EXCLUDED.n
"""  # noqa: S608


def add_traffic(ids: list[int], t0: float, first: int, last: int) -> None:
    """Events number `first` to `last` (exclusive) of every system, event g at
    t0 + g / RATE, and their rollups; one transaction per system."""
    from django.conf import settings
    from django.db import connection, transaction

    since = datetime.fromtimestamp(t0 + first / RATE, UTC)
    until = datetime.fromtimestamp(t0 + last / RATE, UTC)
    width = settings.FAILSAFE_ROLLUP_SECONDS
    events, rollups = events_sql(), rollups_sql()
    with connection.cursor() as cursor:
        for system in ids:
            with transaction.atomic():
                cursor.execute(events, {"system": system, "first": first, "last": last, "t0": t0})
                cursor.execute(
                    rollups,
                    {"system": system, "since": since, "until": until, "width": width},
                )


def check_rollups(system, since: datetime, until: datetime) -> int:
    """The SQL-made rollups of a window equal what ingestion counts for its raw events."""
    from django.conf import settings

    from monitoring import contract, rollups
    from monitoring.models import Event, Rollup

    raw = []
    served = []
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
    check(
        found == +expected,
        f"rollups differ from a recount: {(found - expected) or (expected - found)}",
    )
    return len(found)


# --- Evaluation ----------------------------------------------------------------------------


class Queries:
    """Counts and times the SQL queries of the default connection."""

    def __init__(self):
        self.count, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started


PHASES = [  # (module, function, what it is); timed around every call
    ("evaluation", "_new_buckets", "new buckets of the rate monitors (1 query per system)"),
    ("monitors", "_baseline", "baselines over the 7-day window (cold: 3 queries per monitor)"),
    ("monitors", "bank_for", "detector calibration (cold only; cached per process)"),
    ("evaluation", "_shape_evidence", "shape monitors' 10-min window + test (2 queries each)"),
    ("evaluation", "evaluation_save", "claim and save each monitor (1 UPDATE + 1 commit each)"),
]


class Phases:
    """Wall time spent in the functions of PHASES during a run (patched for the run only)."""

    def __init__(self):
        from monitoring.services import evaluation, monitors

        # Patched where they are looked up: bank_for is imported into monitors.
        self.modules = {"evaluation": evaluation, "monitors": monitors}
        self.seconds = dict.fromkeys((name for _, name, _ in PHASES), 0.0)

    def __enter__(self):
        self.saved = []
        for module, name, _ in PHASES:
            target = self.modules[module]
            original = getattr(target, name)
            self.saved.append((target, name, original))
            setattr(target, name, self._timed(name, original))
        return self

    def __exit__(self, *exc):
        for target, name, original in self.saved:
            setattr(target, name, original)

    def _timed(self, name, original):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return wrapper


def evaluate(now: datetime, profile: bool = False) -> dict:
    """One `monitors_evaluate(now)`: wall and CPU time, queries, phases (and a profile)."""
    from django.db import connection

    from monitoring.services.evaluation import monitors_evaluate

    queries = Queries()
    profiler = cProfile.Profile() if profile else None
    with connection.execute_wrapper(queries), Phases() as phases:
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        summary = monitors_evaluate(now=now)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {
        **summary,
        "seconds": seconds,
        "cpu": cpu,
        "queries": queries.count,
        "sql": queries.seconds,
        "phases": phases.seconds,
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumtime").print_stats(16)
        result["profile"] = out.getvalue()
    return result


def show_phases(result: dict) -> None:
    rest = result["seconds"]
    for _, name, what in PHASES:
        took = result["phases"][name]
        rest -= took
        if took >= 0.0005:
            print(f"    {what:72} {took:6.3f} s")
    print(f"    {'the rest (loading monitors, the detectors updates, Python)':72} {rest:6.3f} s")


def reset_monitors(ids: list[int]) -> None:
    """Back to just created: no baseline, no detector, nothing evaluated yet."""
    from monitoring.models import Monitor

    Monitor.objects.filter(system_id__in=ids).update(
        status=Monitor.Status.LEARNING,
        baseline={},
        baseline_at=None,
        detector={},
        state=[],
        evaluated_through=None,
    )


def statuses(ids: list[int]) -> dict:
    from monitoring.models import Monitor

    return dict(Counter(Monitor.objects.filter(system_id__in=ids).values_list("status", flat=True)))


def sizes(ids: list[int]) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monitoring_event WHERE system_id = ANY(%s)", [ids])
        events = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM monitoring_rollup WHERE system_id = ANY(%s)", [ids])
        cells = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_total_relation_size('monitoring_event'), "
            "pg_total_relation_size('monitoring_rollup')"
        )
        event_bytes, rollup_bytes = cursor.fetchone()
    return (
        f"{events:,} stored events of the bench systems, {cells:,} rollup rows; on disk "
        f"(whole tables with indexes, space freed by earlier runs included): monitoring_event "
        f"{event_bytes / 2**30:.2f} GiB, monitoring_rollup {rollup_bytes / 2**20:.0f} MiB"
    )


def measure(label: str, ids: list[int], clock: list[float], runs: int, lag: float) -> dict:
    """The cold run, then `runs` steady-state runs each after STEP_SECONDS of new traffic.
    `clock` holds [t0, next event number], and moves on."""
    t0, g = clock
    reset_monitors(ids)
    now = datetime.fromtimestamp(t0 + g / RATE + lag, UTC)
    cold = evaluate(now)
    print(
        f"{label}, cold run (every baseline computed, every detector calibrated): "
        f"{cold['seconds']:.2f} s (this process's CPU {cold['cpu']:.2f} s), {cold['queries']} "
        f"queries ({cold['sql']:.2f} s in SQL), {cold['monitors']} monitors, {cold['alerts']} "
        f"alerts; statuses {statuses(ids)}; where it went:"
    )
    show_phases(cold)
    steady = []
    for run in range(runs + 1):  # the last one profiled, outside the figure
        add_traffic(ids, t0, g, g + STEP_SECONDS * RATE)
        g += STEP_SECONDS * RATE
        now = datetime.fromtimestamp(t0 + g / RATE + lag, UTC)
        steady.append(evaluate(now, profile=run == runs))
    clock[1] = g
    profiled = steady.pop()
    times = [r["seconds"] for r in steady]
    median = statistics.median(times)
    pick = min(steady, key=lambda r: abs(r["seconds"] - median))
    print(
        f"{label}, steady state ({runs} runs, each after {STEP_SECONDS} s of new traffic for "
        f"every system): median {median:.3f} s (min {min(times):.3f}, max {max(times):.3f}); "
        f"{sum(r['alerts'] for r in steady)} alerts raised, "
        f"{sum(r['resolved'] for r in steady)} resolved; statuses {statuses(ids)}; the median "
        f"run: {pick['queries']} queries, {pick['sql']:.3f} s in SQL, this process's CPU "
        f"{pick['cpu']:.3f} s; where it went:"
    )
    show_phases(pick)
    return {"cold": cold["seconds"], "steady": median, "profile": profiled["profile"]}


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=int, default=100)
    parser.add_argument("--small", type=int, default=1_000_000, help="stored events, first")
    parser.add_argument("--large", type=int, default=10_000_000, help="stored events, then")
    parser.add_argument("--runs", type=int, default=7, help="steady-state runs per size")
    parser.add_argument("--keep", action="store_true", help="leave the events in the database")
    args = parser.parse_args()

    setup_django()
    from django.conf import settings
    from django.db import connection

    lag = settings.FAILSAFE_EVALUATION_LAG_SECONDS
    width = settings.FAILSAFE_ROLLUP_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('work_mem')"
        )
        pg = cursor.fetchone()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"PostgreSQL {pg[0]} (shared_buffers {pg[1]}, work_mem {pg[2]}), shared with other users"
    )
    print(
        f"settings: {args.systems} systems x {len(MONITORS)} monitors "
        f"({', '.join(kind for _, kind, _ in MONITORS)}), {RATE} events/s per system, "
        f"FAILSAFE_ROLLUP_SECONDS {width}, FAILSAFE_EVALUATION_LAG_SECONDS {lag:g}, "
        f"baseline: the previous 7 days (the default), {args.runs} steady-state runs"
    )

    started = time.perf_counter()
    systems, ids = prepare(args.systems)
    print(
        f"{len(systems)} systems and {len(systems) * len(MONITORS)} monitors made in "
        f"{time.perf_counter() - started:.1f} s"
    )
    small = args.small // args.systems
    large = args.large // args.systems
    # Event g of each system at t0 + g / RATE; the newest history ends at `end`, now.
    end = time.time() // width * width
    t0 = end - large / RATE
    clock = [t0, large]

    started = time.perf_counter()
    add_traffic(ids, t0, large - small, large)
    vacuum()
    print(
        f"\n10^6 history ({small:,} events per system, the last {small / RATE / 60:.0f} min) "
        f"written in {time.perf_counter() - started:.0f} s: {sizes(ids)}"
    )
    window = (datetime.fromtimestamp(end - 60, UTC), datetime.fromtimestamp(end, UTC))
    cells = check_rollups(systems[0], *window)
    print(
        f"the rollups written by SQL for {systems[0].slug}'s last minute ({cells} cells) equal "
        "what ingestion's rollups.count makes of the same raw events"
    )
    first = measure("10^6 events", ids, clock, args.runs, lag)

    started = time.perf_counter()
    add_traffic(ids, t0, 0, large - small)
    vacuum()
    print(
        f"\n10^7 history: {large - small:,} older events per system added (the history now "
        f"spans {large / RATE / 3600:.1f} h) in {time.perf_counter() - started:.0f} s: "
        f"{sizes(ids)}"
    )
    old = datetime.fromtimestamp(t0 + 1000, UTC)
    cells = check_rollups(systems[-1], old, old + timedelta(seconds=60))
    print(f"rollups of an old minute of {systems[-1].slug} ({cells} cells) equal a recount too")
    second = measure("10^7 events", ids, clock, args.runs, lag)

    print(
        "\ncProfile of one more steady-state run at 10^7 (not in the median; by cumulative time):"
    )
    print("\n".join(line for line in second["profile"].splitlines() if line.strip())[:4000])

    def verdict(seconds: float) -> str:
        return "met" if seconds <= TARGET_SECONDS else f"MISSED by {seconds - TARGET_SECONDS:.2f} s"

    print(
        f"\nevaluating all {len(ids) * len(MONITORS)} monitors, steady state: 10^6 events "
        f"{first['steady']:.3f} s ({verdict(first['steady'])}), 10^7 events "
        f"{second['steady']:.3f} s ({verdict(second['steady'])}); target <= "
        f"{TARGET_SECONDS:g} s at both"
    )
    ratio = second["steady"] / first["steady"]
    print(
        f"flat in stored events: 10^7 / 10^6 = {ratio:.2f}x "
        + ("(flat within 25%)" if ratio <= 1.25 else "(NOT flat: more than 25% slower)")
    )
    print(
        f"cold run (baselines and detectors, once per monitor an hour): 10^6 "
        f"{first['cold']:.2f} s, 10^7 {second['cold']:.2f} s ({verdict(second['cold'])} "
        f"against the same 1 s)"
    )

    if not args.keep:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM monitoring_event WHERE system_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM monitoring_rollup WHERE system_id = ANY(%s)", [ids])
        compact()
        took = time.perf_counter() - started
        print(f"\nthe bench systems' events and rollups deleted in {took:.0f} s")


if __name__ == "__main__":
    main()
