"""OTLP/HTTP span ingestion against the event API, the same events in the same run
(docs/PERFORMANCE.md: spans/s over `POST /otlp/v1/traces`, protobuf, 4 concurrent senders,
at least 0.7x the events/s of `POST /api/v1/systems/<slug>/events`).

1. Events: simulated support drafters (`monitoring.simulator`, one seed per sender and
   round, so every id is new), whose timestamps run at 25,000/s in all from ten minutes
   ago, as in bench/ingest_events.py. Each batch of 500 becomes OpenTelemetry spans
   through the OpenTelemetry SDK (`monitoring.otel_drafter.spans_emit`, the demo drafter's
   own span-building, into an in-memory exporter), and the SDK's OTLP encoder
   (`encode_spans`, what `OTLPSpanExporter` sends) makes it one `ExportTraceServiceRequest`,
   serialized once, before any timing. Why not the exporter itself: it encodes and posts
   from one background thread per provider, in batches of its own choosing, so timing it
   would time this client; encoding with its encoder gives the bytes it would send, and
   leaves the server's work alone on the clock, as the event API's JSON bodies are
   encoded before timing too.
2. The same events for the event API: each protobuf request read back by the receiver's
   own code (`telemetry.otlp.records.trace_resources`, `mapping.span_event`), untimed, and
   JSON-encoded as one batch of 500 (the span id as the event id). The two protocols store
   the same rows, into two systems with the same registry and the same score monitor.
3. HTTP: the real ASGI app (uvicorn `--workers 2`, the product's database settings) on
   127.0.0.1; 4 sender threads, each with its own httpx client, a new connection per
   request (as bench/ingest_events.py). Rounds alternate the two protocols (API first,
   then OTLP first in the next round...), each on fresh events, so neither always meets
   the fuller table; a CHECKPOINT before each run. Rate = events (spans) accepted / wall
   time from the first request to the last answer; ratio = OTLP's total / the API's total.
4. Nothing lost, nothing doubled: both systems' stored events against those sent, and the
   same sums over them (tokens, scores, errors, text) in both.
5. Where OTLP's time goes, in this process (with the server's garbage-collector settings
   of config/asgi.py), per batch of 500 (median of fresh batches):
   protobuf parsing, reading the records (NUL and size checks), mapping spans to events,
   the contract's validation, and storing (`telemetry.services.spans_ingest` whole, minus
   its mapping and validation); against the event API's decoding with validation and
   `events_ingest`. Then cProfile of one OTLP request's work.

    .venv/bin/python bench/otlp_ingest.py [-n 120000] [--rounds 3] [--senders 4]
        [--batch 500] [--workers 2] [--profile-batches 6] [--port N]
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
from datetime import datetime
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
from ingest_events import checkpoint, cpu_snapshot, vacuum

SPANS_SLUG = "bench-otlp-spans"
EVENTS_SLUG = "bench-otlp-events"
TIMELINE_RATE = 25_000  # events/s of the simulated traffic, all senders together
TARGET_RATIO = 0.7
MODEL = {"provider": "openai", "name": "gpt-4o-mini", "version_id": "gpt-4o-mini-2024-07-18"}
PROMPT = {"name": "support-reply", "template": "Answer the customer.\n{context}\n{ticket}"}
VERSIONS = {"model": MODEL["version_id"], "prompt": "1"}
PROTOBUF = "application/x-protobuf"


# --- Set-up --------------------------------------------------------------------------------


def prepare_system(slug: str):
    """The system, its registry (model v1, prompt v1), a faithfulness score monitor (so the
    score share is counted, as in the demo), its events, rollups and intake counts deleted."""
    from django.db import connection

    from monitoring.models import Monitor
    from monitoring.services.monitors import monitor_create
    from rollbacks.models import Version
    from rollbacks.services import version_add
    from systems.models import AISystem

    owner = person("bench-owner", "Responder")
    system, _ = AISystem.objects.get_or_create(
        slug=slug,
        defaults={"name": f"OTLP bench ({slug})", "kind": "generator", "owner": owner},
    )
    for surface, content in (("model", MODEL), ("prompt", PROMPT)):
        if not Version.objects.filter(system=system, surface=surface).exists():
            version_add(actor=owner, system=system, surface=surface, content=content)
    if not Monitor.objects.filter(system=system, kind=Monitor.Kind.SCORE_SHARE).exists():
        monitor_create(
            actor=owner,
            system=system,
            name="Faithfulness below 0.5",
            kind=Monitor.Kind.SCORE_SHARE,
            target="faithfulness",
            threshold=0.5,
            below=True,
        )
    with connection.cursor() as cursor:
        for table in ("monitoring_event", "monitoring_rollup", "telemetry_otlpintake"):
            cursor.execute(f"DELETE FROM {table} WHERE system_id = %s", [system.pk])  # noqa: S608
    return system, owner


class SpanMaker:
    """Simulated replies as the SDK's spans, encoded as its OTLP exporter encodes them."""

    def __init__(self) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource({"service.name": SPANS_SLUG}))
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("failsafe.simulator")

    def bodies(self, events: list[dict]) -> tuple[bytes, bytes]:
        """(the protobuf request of these events' spans, the same events as the event
        API's JSON body)."""
        from django.conf import settings
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        from monitoring.otel_drafter import spans_emit
        from telemetry.otlp import mapping, records

        spans_emit(self.tracer, events, prompt_name=PROMPT["name"])
        protobuf = encode_spans(self.memory.get_finished_spans()).SerializeToString()
        self.memory.clear()
        request = ExportTraceServiceRequest.FromString(protobuf)
        resources = records.trace_resources(request, settings.FAILSAFE_OTLP_MAX_ATTRIBUTE_BYTES)
        mapped = [mapping.span_event(span) for r in resources for span in r.records]
        check(len(mapped) == len(events), "a span was lost in the encoding")
        return protobuf, json.dumps({"events": mapped}, default=datetime.isoformat).encode()


def make_bodies(maker, count, senders, batch, start, first_seed):
    """Per sender, its (protobuf, JSON) bodies: `count` events in all."""
    from monitoring.simulator import SUPPORT, Simulator

    per_sender = count // senders
    rate = TIMELINE_RATE / senders
    out = []
    for n in range(senders):
        sim = Simulator(SUPPORT, seed=first_seed + n, versions=VERSIONS)
        events = sim.events(start, per_sender, rate)
        out.append([maker.bodies(events[i : i + batch]) for i in range(0, per_sender, batch)])
    return out


# --- HTTP senders --------------------------------------------------------------------------


def send_all(port: int, path: str, token: str, bodies: list[list[bytes]], media: str) -> dict:
    """Each sender (a thread with its own client) POSTs its bodies back to back, on a new
    connection per request; every request must be accepted whole (the rows are counted in
    the database)."""
    import httpx
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    limits = httpx.Limits(max_keepalive_connections=0)
    url = f"http://127.0.0.1:{port}{path}"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": media,
        "Host": f"127.0.0.1:{port}",
    }
    latencies: list[float] = []
    refused: list = []
    lock = threading.Lock()
    go = threading.Barrier(len(bodies) + 1)

    def whole(response) -> bool:
        """Was every event (span) of the request accepted?"""
        if media != PROTOBUF:
            return response.status_code == 202 and not response.json()["duplicates"]
        if response.status_code != 200:
            return False
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        return not partial.rejected_spans and not partial.error_message

    def sender(mine: list[bytes]) -> None:
        with httpx.Client(timeout=120, headers=headers, limits=limits) as client:
            go.wait()
            for body in mine:
                started = time.perf_counter()
                response = client.post(url, content=body)
                took = time.perf_counter() - started
                ok = whole(response)
                with lock:
                    latencies.append(took)
                    if not ok:
                        refused.append((response.status_code, response.content[:300]))

    threads = [threading.Thread(target=sender, args=(mine,)) for mine in bodies]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    check(not refused, f"{len(refused)} requests not wholly accepted: {refused[:2]}")
    return {"seconds": seconds, "latencies": latencies}


def stored(system) -> int:
    from monitoring.models import Event

    return Event.objects.filter(system=system).count()


def http_run(name, port, path, token, bodies, media, system, server_pid) -> dict:
    before_rows = stored(system)
    checkpoint()
    before = cpu_snapshot(server_pid)
    result = send_all(port, path, token, bodies, media)
    after = cpu_snapshot(server_pid)
    events = stored(system) - before_rows
    sent = sum(len(mine) for mine in bodies)
    lat = result["latencies"]
    check(len(lat) == sent, f"{name}: {len(lat)} answers for {sent} requests")
    rate = events / result["seconds"]
    cpu = {k: after[k] - before[k] for k in ("server", "postgres")}
    print(
        f"  {name}: {events:,} events in {len(lat)} requests, {result['seconds']:.2f} s -> "
        f"{rate:,.0f}/s; latency p50 {percentile(lat, 50) * 1000:.0f} ms, p99 "
        f"{percentile(lat, 99) * 1000:.0f} ms; server CPU {cpu['server'] / events * 1e6:.1f} "
        f"us/event, PostgreSQL {cpu['postgres'] / events * 1e6:.1f} us/event"
    )
    return {"events": events, "seconds": result["seconds"], "rate": rate, **cpu}


# --- Verification --------------------------------------------------------------------------

SUMS = (
    "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
    "count(*) FILTER (WHERE scores <> '{}'::jsonb), count(*) FILTER (WHERE error <> ''), "
    "count(*) FILTER (WHERE finish_reason = 'length'), count(*) FILTER (WHERE refused), "
    "coalesce(sum(length(text)), 0), count(DISTINCT served) FROM monitoring_event "
    "WHERE system_id = %s"
)


def verify(spans_system, events_system, sent: int) -> None:
    from django.db import connection

    found = []
    with connection.cursor() as cursor:
        for system in (spans_system, events_system):
            cursor.execute(SUMS, [system.pk])
            sums = cursor.fetchone()
            cursor.execute(
                "SELECT coalesce(sum(n), 0) FROM monitoring_rollup "
                "WHERE system_id = %s AND signal = 'events'",
                [system.pk],
            )
            found.append((sums, cursor.fetchone()[0]))
    (spans, spans_rolled), (events, events_rolled) = found
    ok = spans == events and spans[0] == sent == spans_rolled == events_rolled
    print(
        f"sent {sent:,} events by each protocol; stored (count, input tokens, output tokens, "
        f"scored, errors, cut off, refused, text chars, served keys): OTLP {spans}, API "
        f"{events}; rollups 'events' {spans_rolled:,} / {events_rolled:,} -> "
        + ("the same rows, nothing lost, nothing doubled" if ok else "MISMATCH")
    )
    check(ok, "the two protocols stored different events")


# --- Where the time goes -------------------------------------------------------------------


def breakdown(spans_system, events_system, bodies: list[tuple[bytes, bytes]]) -> None:
    from django.conf import settings
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from monitoring import contract
    from monitoring.services.ingest import events_ingest
    from telemetry import services
    from telemetry.otlp import decode, mapping, records

    limit = settings.FAILSAFE_OTLP_MAX_ATTRIBUTE_BYTES
    steps: dict[str, list[float]] = {}
    gc.collect()
    gc.freeze()  # as a server process does (config/asgi.py), with its threshold
    gc.set_threshold(10_000, 10, 10)

    cpu: dict[str, list[float]] = {}

    def timed(name, fn, *args, **kwargs):
        started, used = time.perf_counter(), time.process_time()
        value = fn(*args, **kwargs)
        steps.setdefault(name, []).append(time.perf_counter() - started)
        cpu.setdefault(name, []).append(time.process_time() - used)
        return value

    for protobuf, body in bodies:
        message = timed(
            "OTLP 1 protobuf parsing",
            decode.request_decode,
            protobuf,
            PROTOBUF,
            ExportTraceServiceRequest(),
            decode.TRACES,
        )
        resources = timed("OTLP 2 reading records", records.trace_resources, message, limit)
        spans = [span for resource in resources for span in resource.records]
        mapped = timed("OTLP 3 mapping", lambda spans=spans: [mapping.span_event(s) for s in spans])
        timed(
            "OTLP 4 validation",
            lambda spans=spans, mapped=mapped: contract.events_check(
                {"events": mapped}, nul=any(mapping.may_hold_nul(s) for s in spans)
            ),
        )
        timed(
            "OTLP 5 spans_ingest whole (3-4 + storing)",
            services.spans_ingest,
            system_id=spans_system.pk,
            resources=resources,
        )
        # The event API's own path: the body decoded and checked in one (msgspec).
        timed("API 1 decoding and validation", contract.events_decode, body)
        timed(
            "API 2 events_ingest whole (1 + storing)",
            events_ingest,
            system=events_system,
            body=body,
        )
    medians = {name: statistics.median(values) for name, values in sorted(steps.items())}
    size = len(json.loads(bodies[0][1])["events"])
    print(
        f"\nwhere the time goes, in this process: median of {len(bodies)} fresh batches of {size}:"
    )
    for name, seconds in medians.items():
        used = statistics.median(cpu[name])
        print(
            f"  {name:44} wall {seconds * 1000:6.1f} ms ({seconds * 1e6 / size:5.1f} us/event), "
            f"CPU {used * 1000:6.1f} ms ({used * 1e6 / size:5.1f} us/event)"
        )
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    for what, found in (("wall", medians), ("CPU", cpu_medians)):
        otlp = (
            found["OTLP 1 protobuf parsing"]
            + found["OTLP 2 reading records"]
            + found["OTLP 5 spans_ingest whole (3-4 + storing)"]
        )
        api = found["API 2 events_ingest whole (1 + storing)"]
        storing_otlp = found["OTLP 5 spans_ingest whole (3-4 + storing)"] - (
            found["OTLP 3 mapping"] + found["OTLP 4 validation"]
        )
        storing_api = (
            found["API 2 events_ingest whole (1 + storing)"]
            - found["API 1 decoding and validation"]
        )
        print(
            f"  a request's work ({what}): OTLP {otlp * 1000:.1f} ms (1 + 2 + 5), API "
            f"{api * 1000:.1f} ms (2): OTLP at {api / otlp:.2f}x the API's rate; storing "
            f"alone (rollups and intake included) OTLP {storing_otlp * 1000:.1f} ms, API "
            f"{storing_api * 1000:.1f} ms"
        )


def profile_one(spans_system, protobuf: bytes) -> None:
    from django.conf import settings
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from telemetry import services
    from telemetry.otlp import decode, records

    profiler = cProfile.Profile()
    profiler.enable()
    message = decode.request_decode(protobuf, PROTOBUF, ExportTraceServiceRequest(), decode.TRACES)
    resources = records.trace_resources(message, settings.FAILSAFE_OTLP_MAX_ATTRIBUTE_BYTES)
    services.spans_ingest(system_id=spans_system.pk, resources=resources)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(16)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    print("\ncProfile of one OTLP request's work (parse, read, spans_ingest), by own time:")
    print("\n".join(lines[:34]))


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=120_000, help="per protocol")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="events (spans) per request")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--profile-batches", type=int, default=6)
    parser.add_argument("--port", type=int, default=0, help="the server's (default: any free)")
    args = parser.parse_args()
    per_round = args.events // args.rounds
    per_round -= per_round % (args.batch * args.senders)
    check(per_round > 0, "-n too small for the rounds, senders and batch size")
    setup_django()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from systems.services import token_issue, token_revoke

    spans_system, owner = prepare_system(SPANS_SLUG)
    events_system, _ = prepare_system(EVENTS_SLUG)
    vacuum()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
        f"{per_round * args.rounds:,} events per protocol in {args.rounds} rounds, "
        f"{args.senders} senders, batches of {args.batch}, uvicorn --workers {args.workers}, "
        "a new connection per request"
    )
    maker = SpanMaker()
    start = time.time() - 600
    started = time.perf_counter()
    rounds = [
        make_bodies(maker, per_round, args.senders, args.batch, start, 1000 + 10 * r)
        for r in range(args.rounds)
    ]
    profile = make_bodies(
        maker, (args.profile_batches + 1) * args.batch, 1, args.batch, start, 9000
    )
    sample = rounds[0][0][0]
    print(
        f"bodies built in {time.perf_counter() - started:.1f} s (untimed); a batch of "
        f"{args.batch}: protobuf {len(sample[0]):,} bytes, JSON {len(sample[1]):,} bytes"
    )
    token, raw_spans = token_issue(
        actor=owner, system=spans_system, name="otlp bench", scopes=["events:write"]
    )
    token2, raw_events = token_issue(
        actor=owner, system=events_system, name="otlp bench", scopes=["events:write"]
    )
    port = args.port or free_port()
    totals = {"OTLP": [0, 0.0], "API": [0, 0.0]}
    try:
        with tempfile.NamedTemporaryFile("w+", prefix="otlp-ingest-", suffix=".log") as log:
            server = start_server(port, log, workers=args.workers)
            try:
                wait_until_up(server, port)
                time.sleep(1.0)  # let every worker finish starting
                for r, bodies in enumerate(rounds):
                    print(f"round {r + 1}:")
                    runs = [
                        (
                            "API",
                            f"/api/v1/systems/{EVENTS_SLUG}/events",
                            raw_events,
                            [[b for _, b in mine] for mine in bodies],
                            "application/json",
                            events_system,
                        ),
                        (
                            "OTLP",
                            "/otlp/v1/traces",
                            raw_spans,
                            [[p for p, _ in mine] for mine in bodies],
                            PROTOBUF,
                            spans_system,
                        ),
                    ]
                    for name, path, raw, sent, media, system in runs[:: 1 if r % 2 == 0 else -1]:
                        result = http_run(name, port, path, raw, sent, media, system, server.pid)
                        totals[name][0] += result["events"]
                        totals[name][1] += result["seconds"]
            finally:
                stop_and_show_log(server, log)
    finally:
        token_revoke(actor=owner, token=token, reason="OTLP bench over.")
        token_revoke(actor=owner, token=token2, reason="OTLP bench over.")

    verify(spans_system, events_system, per_round * args.rounds)
    otlp = totals["OTLP"][0] / totals["OTLP"][1]
    api = totals["API"][0] / totals["API"][1]
    ratio = otlp / api
    print(
        f"\nOTLP/HTTP (protobuf) {otlp:,.0f} spans/s against the event API's {api:,.0f} "
        f"events/s, same events, same server, same run: {ratio:.2f}x (target >= "
        f"{TARGET_RATIO}: " + ("met" if ratio >= TARGET_RATIO else "MISSED") + ")"
    )
    breakdown(spans_system, events_system, profile[0][:-1])
    profile_one(spans_system, profile[0][-1][0])
    prepare_system(SPANS_SLUG)  # leaves nothing of this run in the next one's tables
    prepare_system(EVENTS_SLUG)


if __name__ == "__main__":
    main()
