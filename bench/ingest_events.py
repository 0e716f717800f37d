"""Event ingestion over HTTP into PostgreSQL against a raw `COPY` of the same rows, same run
(docs/PERFORMANCE.md: >= 25,000 events/s sustained with 4 concurrent senders, issue 17's
>= 60,000, and >= 0.5x a single-connection raw COPY).

1. Rows: 4 simulated refund classifiers (`monitoring.simulator`, seeds 1-4, so every event
   id is unique) of one system, each sending its share of N events whose timestamps run
   at the target rate (25,000/s in all) from ten minutes ago, as 4 replicas of one
   service would report them: concurrent batches land in the same 2-second rollup buckets
   and so update the same rollup rows. Every batch is 5,000 events, JSON-encoded before
   any timing (the senders' own JSON cost is not the server's).
2. Raw baseline: one psycopg connection COPYs the same rows (the columns of
   `monitoring_event`, as ingestion would store them, built before timing) into
   `bench_raw`, made afresh as the events table is: partitioned by list on retention_days
   and by range on the day, with its primary and unique keys, its (system, ts) index and
   its deferred foreign key to the system, read from the catalogue (`raw_table`); one COPY
   and one commit per 5,000 rows: as tuples (`write_row`), and as ready COPY text
   (`write`, no per-value work at all). Also, for the figures recorded before 2026-12-06,
   the text into a plain `LIKE monitoring_event INCLUDING ALL` table (same indexes, no
   partitions, no foreign key); and the product's SQL alone on the same text and
   connection: its look-up of stored ids, then the COPY into the partitioned table (the
   ceiling of the ratio before any Python work). All before and after the HTTP runs; the
   fastest raw COPY into the partitioned table is the baseline.
3. HTTP: the real ASGI app (uvicorn, `--workers 2` by default, the product's database
   settings: a connection per request) on 127.0.0.1; 4 sender threads in this process,
   each with its own httpx client, POST their batches back to back to
   `/api/v1/systems/<slug>/events` with a token of scope events:write, on a new
   connection per request by default (4 keep-alive connections, `--keep-alive`, are shared
   out among uvicorn's workers once, when they connect). Events/s = events accepted / wall
   time from the first request to the last answer; p50/p99 of the requests' latency. CPU
   seconds used meanwhile by the server's workers, by PostgreSQL (all of it: the server
   is shared) and by this process, to show where the 2 cores went.
4. Idempotency: the same batches sent again (all duplicates), timed the same way.
5. Nothing lost, nothing doubled: `count(*)` of the system's events and `sum(n)` of its
   rollup rows with signal 'events' against the events sent, and the label counts of the
   rollups against a recount of the raw events.
6. Where the time goes: in this process, `events_ingest` on fresh 5,000-event bodies with
   each step timed separately (decoding and validation with msgspec, de-duplication and
   version refs, the look-up of stored ids, the one pass writing COPY rows and counting
   rollups, the COPY, the rollup upsert, the commit with the foreign key's checks; and,
   for comparison, the dict path: json.loads and `contract.events_check`), wall and this
   process's CPU, and the garbage collector's time within them (`gc.callbacks`); on one
   reused connection and on a new connection per batch; then cProfile of one call.

Experiments: `--server-env KEY=VALUE` (e.g. CONN_MAX_AGE=60), `--workers 3`,
`--keep-alive`, and `--server-gc-threshold N`, which makes the server's workers run
`gc.set_threshold(N, 50, 1000)` at start (a sitecustomize.py in a temporary directory on
their PYTHONPATH; the product is unchanged).

The bench system's events and rollups are deleted at the start, so the counts are exact;
`bench_raw` is dropped at the end. A CHECKPOINT comes before each timed run, so no run
pays for flushing what an earlier one wrote.

    .venv/bin/python bench/ingest_events.py [-n 400000] [--workers 2] [--senders 4]
        [--profile-batches 5] [--keep-alive] [--port 8400] [--server-env CONN_MAX_AGE=60]
        [--server-gc-threshold 100000]
"""

import argparse
import cProfile
import gc
import io
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    check,
    free_port,
    percentile,
    person,
    setup_django,
    start_server,
    stop_and_show_log,
    wait_until_up,
)

SLUG = "bench-ingest"
PROFILE_SLUG = "bench-ingest-profile"
BATCH = 5000
TIMELINE_RATE = 25_000  # events/s of the simulated traffic, all senders together
TARGET_RATE = 60_000  # issue 17; docs/PERFORMANCE.md's floor is 25,000
TARGET_RATIO = 0.5
VERSIONS = {"model": "1", "prompt": "1"}


# --- Set-up --------------------------------------------------------------------------------


def prepare_system(slug: str):
    """The system (with model v1 and prompt v1 in its registry, so events resolve to them
    as in production), its events and rollups deleted."""
    from django.db import connection

    from rollbacks.models import Version
    from rollbacks.services import version_add
    from systems.models import AISystem

    owner = person("bench-owner", "Responder")
    system, _ = AISystem.objects.get_or_create(
        slug=slug,
        defaults={"name": f"Ingestion bench ({slug})", "kind": "classifier", "owner": owner},
    )
    if not Version.objects.filter(system=system, surface="model").exists():
        version_add(
            actor=owner,
            system=system,
            surface="model",
            content={"provider": "bench", "name": "clf", "version_id": "clf-2026-11-01"},
        )
    if not Version.objects.filter(system=system, surface="prompt").exists():
        version_add(actor=owner, system=system, surface="prompt", content={"template": "Classify."})
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM monitoring_event WHERE system_id = %s", [system.pk])
        cursor.execute("DELETE FROM monitoring_rollup WHERE system_id = %s", [system.pk])
    return system, owner


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE monitoring_event")
        cursor.execute("VACUUM ANALYZE monitoring_rollup")
    checkpoint()


def checkpoint() -> None:
    """Flush what earlier writes left dirty, so a timed run does not pay for it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def make_batches(
    count: int, senders: int, start: float, first_seed: int, size: int = BATCH
) -> list[list[list]]:
    """Per sender, its batches of `size` events (lists of dicts): `count` events in all."""
    from monitoring.simulator import REFUND, Simulator

    per_sender = count // senders
    rate = TIMELINE_RATE / senders
    out = []
    for n in range(senders):
        sim = Simulator(REFUND, seed=first_seed + n, versions=VERSIONS)
        events = sim.events(start, per_sender, rate)
        out.append([events[i : i + size] for i in range(0, per_sender, size)])
    return out


def raw_rows(system, batches: list[list]) -> tuple[list[list[tuple]], list[bytes], list[tuple]]:
    """The rows ingestion would store for these batches, per batch, ready for COPY: as
    tuples (psycopg adapts each value) and as the product's own COPY text
    (`ingest_rows.rows_and_counts`); and what the product's look-up of stored ids is given
    (the system, its retention, the sorted ids and their times, the window of those)."""
    from django.conf import settings

    from monitoring import contract, ingest_rows
    from monitoring.services import ingest
    from rollbacks.selectors import version_refs

    refs = version_refs(system)
    received_at = datetime.now(UTC)
    tuples, texts, keys = [], [], []
    for batch in batches:
        checked, problems = contract.events_check({"events": batch})
        check(not problems, problems[:3])
        text, served, _ = ingest_rows.rows_and_counts(
            checked,
            refs,
            received_at,
            settings.FAILSAFE_ROLLUP_SECONDS,
            {},
            {},
            {},
            system.retention_days,
            system.pk,
        )
        texts.append(text)
        at = {e.client_id: e.ts for e in checked}
        ids = sorted(at)
        keys.append(
            (
                system.pk,
                system.retention_days,
                ids,
                [at[i] for i in ids],
                min(at.values()) - ingest.DUPLICATE_WINDOW,
                max(at.values()) + ingest.DUPLICATE_WINDOW,
            )
        )
        tuples.append(
            [
                (
                    e.client_id,
                    e.ts,
                    received_at,
                    json.dumps(e.input, separators=(",", ":")),
                    e.label,
                    e.score,
                    e.text,
                    e.refused,
                    json.dumps(e.versions, separators=(",", ":")),
                    json.dumps(v, separators=(",", ":")),
                    json.dumps([{"type": a.type, "subject": a.subject} for a in e.actions]),
                    e.subject,
                    json.dumps(e.scores),
                    e.error,
                    e.finish_reason,
                    e.input_tokens,
                    e.output_tokens,
                    e.provider,
                    system.retention_days,
                    system.pk,
                )
                for e, v in zip(checked, served, strict=True)
            ]
        )
    return tuples, texts, keys


# --- Raw COPY baseline ---------------------------------------------------------------------


def raw_table(conn, partitioned: bool, days: set) -> None:
    """`bench_raw`: partitioned as monitoring_event is (by list on retention_days, then by
    range on the day, the same day tables), with its keys, indexes and foreign key, read
    from the catalogue; or (not `partitioned`) the baseline of the runs before 2026-12-06:
    `LIKE monitoring_event INCLUDING ALL`, one plain table with the same indexes but no
    partitions and no foreign key (LIKE copies none)."""
    from monitoring import partitions

    conn.execute("DROP TABLE IF EXISTS bench_raw")
    if not partitioned:
        conn.execute("CREATE TABLE bench_raw (LIKE monitoring_event INCLUDING ALL)")
        return
    conn.execute(
        "CREATE TABLE bench_raw (LIKE monitoring_event INCLUDING DEFAULTS INCLUDING "
        "CONSTRAINTS INCLUDING IDENTITY) PARTITION BY "
        + conn.execute("SELECT pg_get_partkeydef('monitoring_event'::regclass)").fetchone()[0]
    )
    for (definition,) in conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'monitoring_event'::regclass AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype DESC"
    ).fetchall():
        conn.execute(f"ALTER TABLE bench_raw ADD {definition}")
    for (definition,) in conn.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = 'monitoring_event'::regclass AND indexrelid NOT IN "
        "(SELECT conindid FROM pg_constraint WHERE conrelid = 'monitoring_event'::regclass)"
    ).fetchall():
        # "CREATE INDEX name ON ONLY public.monitoring_event USING ...": the same on bench_raw
        # and, without ONLY, on its partitions too.
        head, using = definition.split(" ON ", 1)[0], definition.split(" USING ", 1)[1]
        conn.execute(
            f"{head.replace(' INDEX ', ' INDEX bench_raw_', 1)} ON bench_raw USING {using}"
        )
    for retention_days, day in sorted(days):
        for statement in partitions.day_table_ddl(retention_days, day):
            conn.execute(statement.replace(partitions.PARENT, "bench_raw"))


def raw_copy(batches: list, keys: list, into: str) -> dict:
    """One connection, one COPY + commit per batch, into `bench_raw` made afresh:
    `into` "partitioned" or "plain" (`raw_table`), the batches as tuples (psycopg's
    `write_row`) or as COPY text (`write`); or "product": the product's SQL alone on the
    partitioned table, its look-up of stored ids (`ingest._stored_before`) and then the
    COPY of the text, still without its Python work and rollups."""
    import msgspec
    import psycopg

    from monitoring import partitions
    from monitoring.services import ingest

    columns = ingest.EVENT_COLUMNS
    url = os.environ["DATABASE_URL"]
    window = ingest.DUPLICATE_WINDOW
    days = {
        (retention_days, partitions.day_of(ts))
        for _, retention_days, _, _, lowest, highest in keys
        for ts in (lowest + window, highest - window)
    }
    with psycopg.connect(url, autocommit=True) as conn:
        raw_table(conn, partitioned=into != "plain", days=days)
        conn.execute("CHECKPOINT")
        conn.autocommit = False
        rows = 0
        started = time.perf_counter()
        cpu = time.process_time()
        for batch, (system_id, _, ids, _, lowest, highest) in zip(batches, keys, strict=True):
            cursor = conn.cursor()
            if into == "product":
                cursor.execute(
                    "SELECT client_id, ts FROM bench_raw WHERE system_id = %s "
                    "AND client_id = ANY(ARRAY(SELECT json_array_elements_text(%s::json))) "
                    "AND ts BETWEEN %s AND %s",
                    [system_id, msgspec.json.encode(ids).decode(), lowest, highest],
                )
                check(not cursor.fetchall(), "bench_raw had some of the rows")
            with cursor.copy(f"COPY bench_raw ({columns}) FROM STDIN") as copy:
                if isinstance(batch, bytes):
                    copy.write(batch)
                else:
                    for row in batch:
                        copy.write_row(row)
            conn.commit()
            if into == "product" and not rows:  # as ingestion does a day table's first rows
                conn.execute("ANALYZE bench_raw")
                conn.commit()
            rows += len(ids)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stored = conn.execute("SELECT count(*) FROM bench_raw").fetchone()[0]
        conn.commit()
    check(stored == rows, f"bench_raw holds {stored} rows, {rows} copied")
    return {"rows": rows, "seconds": seconds, "rate": rows / seconds, "client_cpu": cpu}


def drop_raw() -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw")


# --- CPU accounting ------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _ticks(fields: list[str], children: bool = False) -> int:
    # fields[0] is the state (field 3 of stat): utime 11, stime 12, cutime 13, cstime 14
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of: the uvicorn supervisor and its workers; all of PostgreSQL (the
    postmaster with its exited children, i.e. the closed connections, plus every live
    process); this process."""
    tick = os.sysconf("SC_CLK_TCK")
    server = 0
    workers: dict[int, float] = {}
    postgres: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat(pid)
        if fields is None:
            continue
        if pid == server_pid or int(fields[1]) == server_pid:
            server += _ticks(fields)
            if pid != server_pid:
                workers[pid] = _ticks(fields) / tick
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                postgres[pid] = fields
        except OSError:
            continue
    # The postmaster is the postgres process whose parent is not one.
    total = sum(_ticks(f, children=int(f[1]) not in postgres) for f in postgres.values())
    return {
        "server": server / tick,
        "postgres": total / tick,
        "senders": time.process_time(),
        "workers": workers,
    }


# --- HTTP senders --------------------------------------------------------------------------


def send_all(port: int, raw_token: str, bodies: list[list[bytes]], keep_alive: bool) -> dict:
    """Each sender (a thread with its own client) POSTs its bodies back to back, on one
    keep-alive connection or on a new connection per request."""
    import httpx

    limits = httpx.Limits(max_keepalive_connections=None if keep_alive else 0)

    url = f"http://127.0.0.1:{port}/api/v1/systems/{SLUG}/events"
    headers = {
        "Authorization": f"Bearer {raw_token}",
        "Content-Type": "application/json",
        "Host": f"127.0.0.1:{port}",
    }
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0, "bad": []}
    lock = threading.Lock()
    go = threading.Barrier(len(bodies) + 1)

    def sender(mine: list[bytes]) -> None:
        with httpx.Client(timeout=120, headers=headers, limits=limits) as client:
            client.get(f"http://127.0.0.1:{port}/healthz")  # connect (keep-alive) first
            go.wait()
            for body in mine:
                started = time.perf_counter()
                response = client.post(url, content=body)
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    if response.status_code == 202:
                        answer = response.json()
                        totals["accepted"] += answer["accepted"]
                        totals["duplicates"] += answer["duplicates"]
                    else:
                        totals["bad"].append((response.status_code, response.text[:300]))

    threads = [threading.Thread(target=sender, args=(mine,)) for mine in bodies]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    check(not totals["bad"], f"{len(totals['bad'])} answers not 202: {totals['bad'][:2]}")
    return {**totals, "seconds": seconds, "latencies": latencies}


def http_run(
    name: str, port: int, raw: str, bodies, server_pid: int, expect: dict, keep_alive: bool
) -> dict:
    before = cpu_snapshot(server_pid)
    result = send_all(port, raw, bodies, keep_alive)
    after = cpu_snapshot(server_pid)
    cpu = {k: after[k] - before[k] for k in ("server", "postgres", "senders")}
    per_worker = [after["workers"][pid] - before["workers"].get(pid, 0) for pid in after["workers"]]
    events = result["accepted"] + result["duplicates"]
    check(
        result["accepted"] == expect["accepted"] and result["duplicates"] == expect["duplicates"],
        f"{name}: accepted {result['accepted']}, duplicates {result['duplicates']}, "
        f"expected {expect}",
    )
    lat = result["latencies"]
    rate = events / result["seconds"]
    print(
        f"{name}: {events:,} events ({result['accepted']:,} accepted, "
        f"{result['duplicates']:,} duplicates) in {len(lat)} requests, {result['seconds']:.1f} s "
        f"-> {rate:,.0f} events/s; request latency p50 {percentile(lat, 50) * 1000:.0f} ms, "
        f"p99 {percentile(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
    )
    wall = result["seconds"]
    print(
        f"  CPU meanwhile: server workers {cpu['server']:.1f} s ({cpu['server'] / wall:.0%} of "
        f"a core, {cpu['server'] / events * 1e6:.1f} us/event), PostgreSQL {cpu['postgres']:.1f} s "
        f"({cpu['postgres'] / wall:.0%}, {cpu['postgres'] / events * 1e6:.1f} us/event), "
        f"senders {cpu['senders']:.1f} s ({cpu['senders'] / wall:.0%}); 2 cores = 200%; "
        f"per worker {', '.join(f'{c:.1f} s' for c in sorted(per_worker, reverse=True))}"
    )
    return {"rate": rate, "seconds": wall, **cpu}


# --- Verification --------------------------------------------------------------------------


def verify(system, sent: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monitoring_event WHERE system_id = %s", [system.pk])
        stored = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(n), 0) FROM monitoring_rollup "
            "WHERE system_id = %s AND signal = 'events'",
            [system.pk],
        )
        rolled = cursor.fetchone()[0]
        cursor.execute(
            "SELECT label, count(*) FROM monitoring_event WHERE system_id = %s GROUP BY label",
            [system.pk],
        )
        recount = dict(cursor.fetchall())
        cursor.execute(
            "SELECT key, sum(n) FROM monitoring_rollup WHERE system_id = %s AND signal = 'label' "
            "GROUP BY key",
            [system.pk],
        )
        labels = {key: int(n) for key, n in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*), count(DISTINCT (bucket, key, served)) FROM monitoring_rollup "
            "WHERE system_id = %s",
            [system.pk],
        )
        cells = cursor.fetchone()
    ok = stored == sent == rolled and recount == labels
    print(
        f"events sent {sent:,}; count(*) of stored events {stored:,}; sum(n) of rollup rows "
        f"with signal 'events' {rolled:,}; label counts rollups {labels} vs raw recount "
        f"{recount}; {cells[0]:,} rollup rows -> "
        + ("nothing lost, nothing doubled" if ok else "MISMATCH")
    )
    check(ok, "stored events, rollups and events sent differ")


# --- Where the time goes -------------------------------------------------------------------


def breakdown(system, bodies: list[bytes], fresh: bool) -> None:
    """`events_ingest`'s steps, timed one by one on fresh batches, in this process: on one
    reused database connection, or (`fresh`) on a new connection per batch, as the server
    does with the product's default CONN_MAX_AGE=0."""
    from django.conf import settings
    from django.db import connection, transaction

    from monitoring import contract, ingest_rows
    from monitoring.services import ingest
    from rollbacks.selectors import version_refs

    width = settings.FAILSAFE_ROLLUP_SECONDS
    steps: dict[str, list[tuple[float, float]]] = {}

    def timed(name, fn, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn(*args)
        steps.setdefault(name, []).append((time.perf_counter() - wall, time.process_time() - cpu))
        return value

    def connect():
        connection.close()
        connection.ensure_connection()

    collecting = {"since": 0.0, "seconds": 0.0, "full": 0}

    def on_gc(phase, info):
        if phase == "start":
            collecting["since"] = time.perf_counter()
        else:
            collecting["seconds"] += time.perf_counter() - collecting["since"]
            collecting["full"] += info["generation"] == 2

    collections = []
    gc.callbacks.append(on_gc)
    whole = []
    for body in bodies:
        collecting.update(seconds=0.0, full=0)
        if fresh:
            timed("0 connecting (a new connection)", connect)
        checked, problems = timed(
            "1 decoding + validation (contract.events_decode)", contract.events_decode, body
        )
        check(not problems, problems[:2])

        def prepare(checked=checked):
            unique = list({e.client_id: e for e in reversed(checked)}.values())[::-1]
            return unique, version_refs(system), *ingest._watched(system)

        unique, refs, patterns, inputs, thresholds = timed(
            "2 de-dup, version refs, watched", prepare
        )
        received_at = datetime.now(UTC)
        if not fresh:
            outside = dict(collecting)  # collections during 1a, 1b are not in the total
            # What the dict path (in-process callers, the OTLP receiver) costs, to compare.
            payload = timed("1a   dicts: json.loads (not a step)", json.loads, body)
            timed("1b   dicts: contract.events_check (not a step)", contract.events_check, payload)
            collecting.update(seconds=outside["seconds"], full=outside["full"])
        wall, cpu = time.perf_counter(), time.process_time()
        with transaction.atomic():
            known = timed(
                "3 look-up of stored ids (_stored_before)", ingest._stored_before, system, unique
            )
            check(not known, "the profile batch was not new")
            rows, _, totals = timed(
                "4 COPY rows + rollup counts, one pass (ingest_rows)",
                ingest_rows.rows_and_counts,
                unique,
                refs,
                received_at,
                width,
                patterns,
                inputs,
                thresholds,
                system.retention_days,
                system.pk,
            )
            stored = timed(
                "5 COPY into monitoring_event (_store_copy)",
                ingest._store_copy,
                system,
                unique,
                rows,
            )
            timed("6 rollup upsert (_rollups_add)", ingest._rollups_add, system, totals)
            commit_wall, commit_cpu = time.perf_counter(), time.process_time()
        steps.setdefault("7 commit (and the foreign key's checks)", []).append(
            (time.perf_counter() - commit_wall, time.process_time() - commit_cpu)
        )
        check(len(stored) == len(unique), "the profile batch was not new")
        whole.append((time.perf_counter() - wall, time.process_time() - cpu))
        collections.append((collecting["seconds"], collecting["full"]))
    gc.callbacks.remove(on_gc)

    how = "a new connection per batch" if fresh else "one reused connection"
    print(
        f"\nwhere the time goes, {how}: events_ingest's steps, median of {len(bodies)} fresh "
        f"batches of {BATCH:,} events, in this process (wall = the step's time; CPU = this "
        "process's Python/psycopg CPU; wall - CPU ~ waiting on PostgreSQL):"
    )
    medians = {
        name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for name, v in steps.items()
    }
    total = sum(w for name, (w, _) in medians.items() if not name.startswith(("1a", "1b")))
    for name, (w, c) in sorted(medians.items()):
        print(
            f"  {name:52} wall {w * 1000:7.1f} ms ({w * 1e6 / BATCH:5.1f} us/event, "
            f"{w / total:4.0%})  CPU {c * 1000:7.1f} ms"
        )
    print(
        f"  {'   garbage collection within those steps':52} wall "
        f"{statistics.median(c for c, _ in collections) * 1000:7.1f} ms (median; full "
        f"collections per batch: {', '.join(str(n) for _, n in collections)})"
    )
    print(
        f"  {'total':52} wall {total * 1000:7.1f} ms = {BATCH / total:,.0f} events/s on one "
        f"core; the stored part (3-7) alone {statistics.median(w for w, _ in whole) * 1000:.1f} ms"
    )


def profile_one(system, body: bytes) -> None:
    from monitoring.services import ingest

    profiler = cProfile.Profile()
    profiler.enable()
    ingest.events_ingest(system=system, body=body)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(18)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    print("\ncProfile of one events_ingest of a body (decoding in), 5,000 events, by own time:")
    print("\n".join(lines[:40]))


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=400_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--port", type=int, default=0, help="the server's (default: any free one)")
    parser.add_argument(
        "--profile-batches", type=int, default=5, help="per connection mode, in the breakdown"
    )
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="one connection per sender (default: a new connection per request, so that "
        "uvicorn's workers share the load; 4 keep-alive connections may all land on one)",
    )
    parser.add_argument(
        "--server-env", action="append", default=[], help="KEY=VALUE for the server, repeatable"
    )
    parser.add_argument(
        "--server-gc-threshold",
        type=int,
        default=0,
        help="an experiment: the server's workers run gc.set_threshold(N, 50, 1000) at start "
        "(a sitecustomize.py in a temporary directory on their PYTHONPATH)",
    )
    args = parser.parse_args()
    per_batch = BATCH * args.senders
    args.events -= args.events % per_batch
    check(args.events > 0, f"-n must be at least {per_batch}")

    setup_django()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.conf import settings
    from django.db import connection

    from systems.services import token_issue, token_revoke

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('synchronous_commit'), current_setting('max_wal_size')"
        )
        pg = cursor.fetchone()
    server_env = dict(item.split("=", 1) for item in args.server_env)
    site = tempfile.TemporaryDirectory(prefix="ingest-events-site-")
    if args.server_gc_threshold:
        Path(site.name, "sitecustomize.py").write_text(
            f"import gc\ngc.set_threshold({args.server_gc_threshold}, 50, 1000)\n"
        )
        server_env["PYTHONPATH"] = site.name
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"PostgreSQL {pg[0]} (shared_buffers {pg[1]}, synchronous_commit {pg[2]}, "
        f"max_wal_size {pg[3]}), shared with other users"
    )
    print(
        f"settings: {args.events:,} events, {args.senders} senders, batches of {BATCH:,}, "
        f"uvicorn --workers {args.workers}, "
        f"{'keep-alive connections' if args.keep_alive else 'a new connection per request'}, "
        f"FAILSAFE_ROLLUP_SECONDS "
        f"{settings.FAILSAFE_ROLLUP_SECONDS}, server database settings: "
        + (
            ", ".join(f"{k}={v}" for k, v in server_env.items() if k != "PYTHONPATH")
            or "the product's defaults"
        )
        + (
            f", gc.set_threshold({args.server_gc_threshold}, 50, 1000) in the workers"
            if args.server_gc_threshold
            else ", Python's default gc thresholds"
        )
        + f" (this process: CONN_MAX_AGE {connection.settings_dict['CONN_MAX_AGE']})"
    )

    system, owner = prepare_system(SLUG)
    profile_system, _ = prepare_system(PROFILE_SLUG)
    vacuum()

    started = time.perf_counter()
    start = time.time() - 600
    batches = make_batches(args.events, args.senders, start, first_seed=1)
    warm = make_batches(2 * args.senders * 100, args.senders, start - 60, 101, size=100)
    flat = [b for mine in batches for b in mine]
    bodies = [[json.dumps({"events": b}).encode() for b in mine] for mine in batches]
    warm_bodies = [[json.dumps({"events": b}).encode() for b in mine] for mine in warm]
    rows, texts, keys = raw_rows(system, flat)
    size = sum(len(b) for mine in bodies for b in mine)
    print(
        f"generated and encoded in {time.perf_counter() - started:.1f} s: {len(flat)} batches, "
        f"{size / 1e6:.0f} MB of JSON ({size / args.events:.0f} bytes/event)"
    )

    raws = {
        "tuples": (rows, "partitioned"),
        "text": (texts, "partitioned"),
        "plain": (texts, "plain"),
        "product": (texts, "product"),
    }
    names = {
        "tuples": "raw COPY as tuples (write_row) into bench_raw, partitioned as the events "
        "table with its keys, indexes and foreign key",
        "text": "raw COPY of the same rows as prepared text (copy.write), the same table",
        "plain": "raw COPY of the text into a plain LIKE ... INCLUDING ALL table (no "
        "partitions, no foreign key: the baseline of the runs before 2026-12-06)",
        "product": "the product's SQL alone (the look-up of stored ids, then COPY of the text "
        "into the partitioned table; no validation, no rollups)",
    }
    before = {}
    for kind, (batches_of, into) in raws.items():
        before[kind] = raw_copy(batches_of, keys, into)
        print(
            f"{names[kind]}: {before[kind]['rate']:,.0f} rows/s "
            f"({before[kind]['seconds']:.1f} s, client CPU {before[kind]['client_cpu']:.1f} s); "
            f"1 connection, {BATCH:,} rows per COPY + commit"
        )

    token, raw = token_issue(
        actor=owner, system=system, name=f"ingest bench {os.getpid()}", scopes=["events:write"]
    )
    port = args.port or free_port()
    warmed = sum(len(b) for mine in warm for b in mine)
    try:
        with tempfile.NamedTemporaryFile("w+", prefix="ingest-events-", suffix=".log") as log:
            server = start_server(port, log, environ=server_env, workers=args.workers)
            try:
                wait_until_up(server, port)
                time.sleep(1.0)  # let every worker finish starting
                send_all(port, raw, warm_bodies, args.keep_alive)
                print(
                    f"server: uvicorn --workers {args.workers} (supervisor pid {server.pid}) on "
                    f"127.0.0.1:{port}; warmed with {warmed} events in small batches"
                )
                checkpoint()
                first = http_run(
                    "HTTP, new events",
                    port,
                    raw,
                    bodies,
                    server.pid,
                    {"accepted": args.events, "duplicates": 0},
                    args.keep_alive,
                )
                checkpoint()
                again = http_run(
                    "HTTP, the same batches again (all duplicates)",
                    port,
                    raw,
                    bodies,
                    server.pid,
                    {"accepted": 0, "duplicates": args.events},
                    args.keep_alive,
                )
            finally:
                stop_and_show_log(server, log)
    finally:
        token_revoke(actor=owner, token=token, reason="Ingestion bench over.")

    after = {kind: raw_copy(batches_of, keys, into) for kind, (batches_of, into) in raws.items()}
    del rows, texts, raws
    drop_raw()
    print(
        "again after the HTTP runs: "
        + ", ".join(f"{kind} {after[kind]['rate']:,.0f} rows/s" for kind in after)
    )
    verify(system, args.events + warmed)

    # The fastest raw COPY into the partitioned table (tuples or text, before or after) is
    # the baseline: the same table, keys, indexes and foreign key the product writes.
    baseline = max(r[kind]["rate"] for r in (before, after) for kind in ("tuples", "text"))
    plain = max(r["plain"]["rate"] for r in (before, after))
    ratio = first["rate"] / baseline
    print(
        f"\nHTTP ingestion, new events: {first['rate']:,.0f} events/s sustained (target >= "
        f"{TARGET_RATE:,}: "
        + (
            "met"
            if first["rate"] >= TARGET_RATE
            else f"MISSED by {TARGET_RATE - first['rate']:,.0f} events/s, "
            f"{first['rate'] / TARGET_RATE:.2f}x of it"
        )
        + ")"
    )
    print(
        f"ratio to the raw COPY into the partitioned table ({baseline:,.0f} rows/s, the fastest "
        f"of four): {ratio:.2f}x (target >= {TARGET_RATIO}: "
        + ("met" if ratio >= TARGET_RATIO else f"MISSED by {TARGET_RATIO - ratio:.2f}")
        + f"); to the plain table's ({plain:,.0f} rows/s, the earlier runs' baseline): "
        f"{first['rate'] / plain:.2f}x"
    )
    sql_alone = max(before["product"]["rate"], after["product"]["rate"])
    print(
        f"the product's SQL alone reaches {sql_alone / baseline:.2f}x of the raw COPY: the "
        f"ceiling of the ratio before any Python work; HTTP ingestion is "
        f"{first['rate'] / sql_alone:.2f}x of that"
    )
    print(
        f"resending stored batches (all duplicates): {again['rate']:,.0f} events/s, "
        f"{again['rate'] / first['rate']:.2f}x the rate of new events"
    )

    # This process still holds every event as dicts: the garbage collector's passes over
    # them would be charged to the steps timed below. A server process holds none of them.
    del batches, flat, bodies, warm, warm_bodies
    profile = make_batches((2 * args.profile_batches + 1) * BATCH, 1, start, first_seed=201)[0]
    profile_bodies = [json.dumps({"events": b}).encode() for b in profile]
    del profile
    gc.collect()
    half = len(profile_bodies[:-1]) // 2
    breakdown(profile_system, profile_bodies[:half], fresh=False)
    breakdown(profile_system, profile_bodies[half:-1], fresh=True)
    profile_one(profile_system, profile_bodies[-1])
    prepare_system(PROFILE_SLUG)  # leaves its events out of the next run's table


if __name__ == "__main__":
    main()
