"""What PostgreSQL holds per raw event and per rollup cell, and what that makes at 10^9
events a day (docs/ARCHITECTURE.md, "Beyond one machine").

Simulated events of two kinds (`monitoring.simulator`: the refund classifier, short labelled
outputs with actions; the support drafter, a generated reply with tokens and a score) go
through the product's own ingestion (`events_ingest`, batches of 5,000, timestamps at
`--rate` events/s ending now) into one bench system each, with no monitor (so the rollups
hold the signals every system counts; a pattern, input-feature or score-share monitor adds
its own cells). Each system gets a retention of its own, so its day tables hold only its
events. Then, per system: the event rows, their
day tables' bytes (heap, TOAST and indexes: `pg_total_relation_size`), the rollup cells and
their share of the rollup table's bytes, after a VACUUM ANALYZE so the figures are settled.
The bench systems' events and rollups are deleted at the start and the end.

    .venv/bin/python bench/storage_bytes.py [-n 200000] [--rate 1000]
"""

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import person, setup_django

KINDS = {"refund": "bench-bytes-refund", "drafter": "bench-bytes-drafter"}
PER_DAY = 10**9


def prepare(slug: str, kind: str):
    from django.db import connection

    from systems.models import AISystem

    owner = person("bench-owner", "Responder")
    system, _ = AISystem.objects.get_or_create(
        slug=slug, defaults={"name": slug, "kind": kind, "owner": owner}
    )
    with connection.cursor() as cursor:
        for table in ("monitoring_event", "monitoring_rollup"):
            cursor.execute(f"DELETE FROM {table} WHERE system_id = %s", [system.pk])  # noqa: S608
    return system


def fill(system, kind: str, count: int, rate: float) -> float:
    from monitoring.services.ingest import events_ingest
    from monitoring.simulator import Simulator

    started = time.perf_counter()
    simulated = Simulator(kind, seed=11, versions={"model": "1", "prompt": "1"})
    events = simulated.events(time.time() - count / rate, count, rate)
    for start in range(0, count, 5000):
        events_ingest(system=system, payload={"events": events[start : start + 5000]})
    return time.perf_counter() - started


def sizes(system) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monitoring_event WHERE system_id = %s", [system.pk])
        events = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(tableoid)), 0) FROM "
            "(SELECT DISTINCT tableoid FROM monitoring_event WHERE system_id = %s) t",
            [system.pk],
        )
        event_bytes = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM monitoring_rollup WHERE system_id = %s", [system.pk])
        cells = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM monitoring_rollup")
        all_cells = cursor.fetchone()[0]
        cursor.execute("SELECT pg_total_relation_size('monitoring_rollup')")
        rollup_bytes = cursor.fetchone()[0] * cells / max(all_cells, 1)
    return {
        "events": events,
        "event_bytes": event_bytes,
        "cells": cells,
        "cell_bytes": rollup_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=200_000, help="per kind")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the traffic")
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    from monitoring.scenarios import REFUND, SUPPORT

    kinds = {"refund": REFUND, "drafter": SUPPORT}
    system_kinds = {"refund": "classifier", "drafter": "generator"}
    # A retention no other system has gives each bench system day tables of its own.
    found = {}
    for n, (kind, slug) in enumerate(KINDS.items()):
        system = prepare(slug, system_kinds[kind])
        system.retention_days = 1000 + n
        system.save(update_fields=["retention_days"])
        seconds = fill(system, kinds[kind], args.events, args.rate)
        found[kind] = (system, seconds)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE monitoring_rollup")
    for kind in KINDS:
        system, seconds = found[kind]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT tableoid::regclass::text FROM monitoring_event "
                "WHERE system_id = %s",
                [system.pk],
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f"VACUUM ANALYZE {table}")
        s = sizes(system)
        per_event = s["event_bytes"] / s["events"]
        per_cell = s["cell_bytes"] / max(s["cells"], 1)
        cells_per_event = s["cells"] / s["events"]
        print(
            f"{kind}: {s['events']:,} events ({s['events'] / seconds:,.0f}/s ingested) at "
            f"{args.rate:,.0f}/s of traffic, {datetime.now(UTC):%Y-%m-%d}:\n"
            f"  raw events {s['event_bytes'] / 1e6:,.1f} MB -> {per_event:,.0f} bytes per event "
            "(heap, TOAST and indexes)\n"
            f"  rollup cells {s['cells']:,} ({cells_per_event:.3f} per event at this rate), "
            f"{per_cell:,.0f} bytes per cell\n"
            f"  at 10^9 events a day: raw events {per_event * PER_DAY / 1e12:,.2f} TB a day; "
            f"rollups depend on systems x signals x buckets, not on the event count (see docs)"
        )
        prepare(KINDS[kind], system_kinds[kind])
        system.retention_days = 30  # no bench retention left for the periodic work to serve
        system.save(update_fields=["retention_days"])


if __name__ == "__main__":
    main()
