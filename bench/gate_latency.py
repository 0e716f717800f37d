"""Gate decision latency at a fixed 200 requests/s against a real server (docs/PERFORMANCE.md:
p99 ≤ 20 ms), and the decisions' correctness under that load.

Starts the real ASGI app (uvicorn, one worker) with psycopg's pool on, as the Procfile
runs the web process (`DB_POOL_MAX_SIZE=10`), on the bench database. The load is open:
this process sends `POST /api/v1/systems/<slug>/gate` at fixed times (i / rate), each on
the first free keep-alive connection of a small pool, whatever the previous answers did;
a request's latency runs from its scheduled time to the end of its answer, so a server
that falls behind shows as latency rather than as a lower rate (no coordinated omission).

First the decision alone (`gate_decide` in this process, one after another); then four
phases against the server, each `--seconds` long at `--rate`:
- bare view: `GET /bench/constant`, the cheapest Django view through the same middleware
  (bench/urls_bench.py), for what the shared machine itself costs in this run;
- allow: ordinary requests within the rules (the breaker's limit out of reach);
- hold: the system in `human` mode, so every request writes a hold;
- cap: a cap of `--cap` per 60 s window; the run checks that exactly that many were allowed
  in each window and the rest held.

    .venv/bin/python bench/gate_latency.py [--rate 200] [--seconds 15] [-c 16] [--cap 500]
"""

import argparse
import json
import secrets
import selectors
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    check,
    free_port,
    percentile,
    person,
    process_cpu_seconds,
    setup_django,
    start_server,
    stop_and_show_log,
    wait_until_up,
)

SLUG = "bench-gate"
ACTION = "account_hold"
PATH = f"/api/v1/systems/{SLUG}/gate"
# The cheapest Django view through the same middleware (bench/urls_bench.py): the baseline.
BARE = "/bench/constant"


def prepare():
    """The system, its account_hold action and rule, and a token with scope `gate`."""
    from gate.models import GateCounter, GateRule, Hold
    from systems.models import ActionType, AISystem, RuntimeMode
    from systems.services import token_issue

    owner = person("bench-gate-owner", "Responder")
    system, _ = AISystem.objects.get_or_create(
        slug=SLUG, defaults={"name": "Gate bench system", "kind": "classifier", "owner": owner}
    )
    RuntimeMode.objects.update_or_create(system=system, defaults={"mode": "ai"})
    action_type, _ = ActionType.objects.get_or_create(
        system=system, name=ACTION, defaults={"reversible": False, "user_visible": True}
    )
    Hold.objects.filter(system=system).delete()
    GateCounter.objects.filter(action_type=action_type).delete()
    GateRule.objects.update_or_create(
        action_type=action_type,
        defaults={"system": system, "breaker_floor": 10**9, "cap": None, "tripped_at": None},
    )
    token, raw = token_issue(
        actor=owner, system=system, name=f"bench {secrets.token_hex(3)}", scopes=["gate"]
    )
    return system, action_type, token, raw


def phase_setup(name: str, system, action_type, cap: int) -> None:
    from gate.models import GateRule
    from systems.models import RuntimeMode

    RuntimeMode.objects.filter(system=system).update(mode="human" if name == "hold" else "ai")
    GateRule.objects.filter(action_type=action_type).update(
        cap=cap if name == "cap" else None, tripped_at=None
    )


def request_bytes(port: int, raw: str, n: int) -> bytes:
    if raw == BARE:
        return f"GET {BARE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    body = json.dumps(
        {"action": ACTION, "subject": f"cus_{n % 5000:05d}", "event_id": f"bench-{n}"}
    ).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {raw}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def complete(buffer: bytearray) -> int | None:
    """The length of the first complete HTTP response in `buffer`, or None."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    marker = head.find(b"\r\ncontent-length:")
    if marker < 0:
        return head_end + 4
    value_end = head.find(b"\r\n", marker + 2)
    value_end = len(head) if value_end < 0 else value_end
    total = head_end + 4 + int(head[marker + 17 : value_end])
    return total if len(buffer) >= total else None


def open_load(port: int, raw: str, rate: float, seconds: float, connections: int, first: int):
    """Send rate x seconds requests at fixed times; answer (latencies in s, decisions,
    answers not 200, the most requests waiting for a connection at once)."""
    selector = selectors.DefaultSelector()
    idle, busy = [], {}
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        idle.append(sock)
    total = int(rate * seconds)
    latencies, decisions, bad = [], Counter(), 0
    backlog: list[tuple[int, float]] = []
    most_waiting = 0
    reconnects = 0
    start = time.perf_counter() + 0.05
    sent = 0
    while len(latencies) + bad < total:
        now = time.perf_counter()
        while sent < total and start + sent / rate <= now:
            backlog.append((first + sent, start + sent / rate))
            sent += 1
        most_waiting = max(most_waiting, len(backlog))
        while backlog and idle:
            n, scheduled = backlog.pop(0)
            sock = idle.pop(0)  # oldest first: every connection stays in use
            payload = request_bytes(port, raw, n)
            sock.sendall(payload)
            busy[sock] = (scheduled, bytearray(), payload)
            selector.register(sock, selectors.EVENT_READ)
        next_send = start + sent / rate if sent < total else now + 0.05
        timeout = max(0.0, min(next_send - time.perf_counter(), 0.05))
        for key, _ in selector.select(timeout):
            sock = key.fileobj
            scheduled, buffer, payload = busy[sock]
            chunk = sock.recv(65536)
            if not chunk and not buffer:
                # The server closed a keep-alive connection as the request went out (its
                # idle timeout): send it again on a new one, from the same scheduled time.
                selector.unregister(sock)
                del busy[sock]
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(payload)
                sock.setblocking(False)
                busy[sock] = (scheduled, bytearray(), payload)
                selector.register(sock, selectors.EVENT_READ)
                reconnects += 1
                continue
            if not chunk:
                raise RuntimeError("the server closed a connection mid-answer")
            buffer += chunk
            length = complete(buffer)
            if length is None:
                continue
            done = time.perf_counter()
            answer = bytes(buffer[:length])
            selector.unregister(sock)
            del busy[sock]
            idle.append(sock)
            if not answer.startswith(b"HTTP/1.1 200"):
                bad += 1
                continue
            latencies.append(done - scheduled)
            body = json.loads(answer[answer.find(b"\r\n\r\n") + 4 :])
            decisions[body.get("decision", "bare")] += 1
    for sock in idle:
        sock.close()
    selector.close()
    return latencies, decisions, bad, most_waiting


def cap_exact(action_type, cap: int) -> tuple[bool, list]:
    """Every window of the cap phase allowed exactly min(requests, cap)."""
    from gate.models import GateCounter

    rows = list(
        GateCounter.objects.filter(action_type=action_type)
        .order_by("window_start")
        .values_list("window_start", "requests", "allowed", "denied")
    )
    return all(allowed == min(requests, cap) for _, requests, allowed, _ in rows), rows


def in_process(system, action_type, n: int = 2000) -> list[float]:
    """The decision alone: `gate_decide` called n times in this process (ms each), on
    ordinary requests; the counter is emptied after."""
    from gate.models import GateCounter
    from gate.services.decide import gate_decide

    times = []
    for i in range(n):
        started = time.perf_counter()
        gate_decide(system_id=system.pk, action=ACTION, subject=f"cus_{i:05d}")
        times.append((time.perf_counter() - started) * 1000)
    GateCounter.objects.filter(action_type=action_type).delete()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("--cap", type=int, default=500, help="the cap phase's cap per window")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()

    setup_django()
    from gate.models import GateCounter
    from systems.services import token_revoke

    system, action_type, token, raw = prepare()
    alone = in_process(system, action_type)
    print(
        f"the decision alone, in-process, {len(alone)} in a row: p50 "
        f"{percentile(alone, 50):.2f} ms, p99 {percentile(alone, 99):.2f} ms "
        "(two statements: the read, the counting upsert)"
    )
    port = free_port()
    results = {}
    with tempfile.NamedTemporaryFile("w+", prefix="gate-latency-", suffix=".log") as log:
        server = start_server(
            port,
            log,
            environ={"DB_POOL_MAX_SIZE": "10", "DJANGO_SETTINGS_MODULE": "bench.settings_bench"},
            workers=args.workers,
        )
        try:
            wait_until_up(server, port)
            print(
                f"server: uvicorn pid {server.pid}, {args.workers} worker(s), "
                "DB_POOL_MAX_SIZE=10 (as the Procfile); load: this process, open loop at "
                f"{args.rate:g} req/s over {args.connections} keep-alive connections; "
                "2 cores shared"
            )
            open_load(port, raw, 100, 2, args.connections, 10**8)  # warm-up
            first = 0
            for name in ("bare view", "allow", "hold", "cap"):
                phase_setup(name, system, action_type, args.cap)
                if name == "cap":
                    GateCounter.objects.filter(action_type=action_type).delete()
                cpu = process_cpu_seconds(server.pid)
                latencies, decisions, bad, waiting = open_load(
                    port,
                    BARE if name == "bare view" else raw,
                    args.rate,
                    args.seconds,
                    args.connections,
                    first,
                )
                cpu = process_cpu_seconds(server.pid) - cpu
                first += len(latencies) + bad
                results[name] = (latencies, decisions, bad, waiting, cpu)
        finally:
            stop_and_show_log(server, log)
            token_revoke(actor=token.created_by, token=token, reason="Bench run over.")

    print(f"\n{args.rate:g} requests/s for {args.seconds:g} s per phase:")
    for name, (latencies, decisions, bad, waiting, cpu) in results.items():
        ms = [x * 1000 for x in latencies]
        print(
            f"{name:9} p50 {percentile(ms, 50):5.1f} ms  p90 {percentile(ms, 90):5.1f}  "
            f"p99 {percentile(ms, 99):5.1f}  max {max(ms):6.1f}  "
            f"({len(ms)} answers: {dict(decisions)}; {bad} not 200; at most {waiting} waiting "
            f"for a connection; server CPU {cpu / args.seconds:.0%})"
        )
        check(bad == 0, f"{name}: {bad} answers not 200")
    exact, rows = cap_exact(action_type, args.cap)
    print(
        "cap phase, per 60 s window (requests, allowed, held): "
        + ", ".join(f"{r}/{a}/{r - a - d}" for _, r, a, d in rows)
        + (" — exact" if exact else " — NOT EXACT")
    )
    check(exact, "the cap was not exact")
    worst = max(
        percentile([x * 1000 for x in r[0]], 99) for n, r in results.items() if n != "bare view"
    )
    verdict = "met" if worst <= 20 else "NOT met"
    print(f"\nworst p99 {worst:.1f} ms against the target of 20 ms: {verdict}")


if __name__ == "__main__":
    main()
