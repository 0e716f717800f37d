"""`GET mode` throughput against a bare Django view returning constant JSON, same server,
same load tool, same run (docs/PERFORMANCE.md: ratio >= 0.8).

Starts the real ASGI app (uvicorn, one worker, no DB pool: the product's defaults) with
DJANGO_SETTINGS_MODULE=bench.settings_bench, which is the product's settings and URLs plus
`/bench/constant`, a plain `def` view answering `{"system": "x", "mode": "ai",
"revision": 1}` through the same middleware. The load tool is this process: one selectors
loop keeping C connections busy (HTTP/1.1 keep-alive, a request sent as soon as the
previous answer is in; no pipelining), light enough to leave most of the 2 cores to the
server. Both URLs are loaded alternately in rounds of fixed duration (A B A B ...), so drift
on the shared machine hits both alike; every answer must be a 200.

`GET /api/v1/systems/<slug>/mode` is sent with a system token (scope mode:read) and no
If-None-Match, so each answer is a 200 with the body, from the warm cache. Zero queries are
checked twice: in this process with Django's test client (CaptureQueriesContext), and on
the server by PostgreSQL's own counters for the bench database (sessions opened and
transactions) during each round.

    .venv/bin/python bench/mode_throughput.py [--rounds 6] [--seconds 3] [-c 8]
"""

import argparse
import secrets
import selectors
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    check,
    free_port,
    person,
    process_cpu_seconds,
    setup_django,
    start_server,
    stop_and_show_log,
    wait_until_up,
)

SLUG = "bench-mode-read"
CONSTANT = "/bench/constant"
MODE = f"/api/v1/systems/{SLUG}/mode"


def prepare():
    """The system and a token for it (the token and its raw value)."""
    from systems.models import AISystem
    from systems.services import token_issue

    owner = person("bench-responder", "Responder")
    system, _ = AISystem.objects.get_or_create(
        slug=SLUG, defaults={"name": "Mode-read bench system", "kind": "ranker", "owner": owner}
    )
    return token_issue(
        actor=owner, system=system, name=f"bench {secrets.token_hex(3)}", scopes=["mode:read"]
    )


def finish(token) -> None:
    from systems.services import token_revoke

    token_revoke(actor=token.created_by, token=token, reason="Bench run over.")


def in_process_queries(raw: str) -> tuple[int, int]:
    """Queries of a warm `GET mode` and of the bare view, through the test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")
    counts = []
    with override_settings(ROOT_URLCONF="bench.urls_bench"):
        for path in (MODE, CONSTANT):
            check(client.get(path).status_code == 200, f"GET {path}")  # warms the cache
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path)
            check(response.status_code == 200, f"GET {path} answered {response.status_code}")
            counts.append(len(queries))
    return counts[0], counts[1]


def database_counters() -> tuple[int, int]:
    """(sessions opened, transactions committed) on the bench database, from PostgreSQL.
    Reads in a fresh snapshot; this connection stays open, so adds no session."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return cursor.fetchone()


class Load:
    """C keep-alive connections, each sending the next request when an answer is in."""

    def __init__(self, port: int, connections: int):
        self.port, self.count = port, connections
        self.selector = selectors.DefaultSelector()
        self.sockets = []
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            self.sockets.append(sock)

    def close(self):
        for sock in self.sockets:
            sock.close()
        self.selector.close()

    def run(self, request: bytes, seconds: float, expect: bytes) -> dict:
        """Load one URL for `seconds`; answers completed within them are counted."""
        buffers = {sock: bytearray() for sock in self.sockets}
        done = bad = 0
        end = time.perf_counter() + seconds
        for sock in self.sockets:
            sock.sendall(request)
            self.selector.register(sock, selectors.EVENT_READ)
        open_ = len(self.sockets)
        started = time.perf_counter()
        while open_:
            for key, _ in self.selector.select(timeout=5):
                sock = key.fileobj
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("the server closed a connection")
                buffer = buffers[sock]
                buffer += data
                while True:
                    length = complete(buffer)
                    if length is None:
                        break
                    answer = bytes(buffer[:length])
                    del buffer[:length]
                    now = time.perf_counter()
                    if now <= end:
                        done += 1
                        if not answer.startswith(b"HTTP/1.1 200") or expect not in answer:
                            bad += 1
                    if now < end:
                        sock.sendall(request)
                    else:
                        self.selector.unregister(sock)
                        open_ -= 1
                        break
        return {"requests": done, "bad": bad, "seconds": min(seconds, end - started)}


def complete(buffer: bytearray) -> int | None:
    """The length of the first complete HTTP response in `buffer`, or None."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    marker = head.find(b"\r\ncontent-length:")
    if marker >= 0:
        value_end = head.find(b"\r\n", marker + 2)
        value_end = len(head) if value_end < 0 else value_end
        length = int(head[marker + 17 : value_end])
        total = head_end + 4 + length
        return total if len(buffer) >= total else None
    if b"\r\ntransfer-encoding: chunked" in head:
        last = buffer.find(b"\r\n0\r\n\r\n", head_end)
        return last + 7 if last >= 0 else None
    return head_end + 4


def request_bytes(port: int, path: str, raw: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: application/json"]
    if raw:
        lines.append(f"Authorization: Bearer {raw}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per URL (A B A B ...)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a round")
    parser.add_argument("-c", "--connections", type=int, default=8)
    args = parser.parse_args()

    setup_django()
    token, raw = prepare()
    try:
        run(args, raw)
    finally:
        finish(token)


def run(args, raw: str) -> None:
    mode_queries, constant_queries = in_process_queries(raw)
    print(
        f"in-process queries per request (warm cache): GET mode {mode_queries}, bare view "
        f"{constant_queries}"
    )
    port = free_port()
    urls = {
        "bare view": (request_bytes(port, CONSTANT, None), b'"mode": "ai"'),
        "GET mode": (request_bytes(port, MODE, raw), b'"mode":'),
    }
    zero = {"requests": 0, "seconds": 0.0, "bad": 0, "server_cpu": 0.0, "load_cpu": 0.0}
    totals = {name: {**zero, "rates": []} for name in urls}
    counters = {name: [0, 0] for name in urls}
    with tempfile.NamedTemporaryFile("w+", prefix="mode-throughput-", suffix=".log") as log:
        server = start_server(port, log, environ={"DJANGO_SETTINGS_MODULE": "bench.settings_bench"})
        try:
            wait_until_up(server, port)
            print(
                f"server: uvicorn pid {server.pid} on 127.0.0.1:{port} (bench.settings_bench); "
                f"load: this process, {args.connections} keep-alive connections; 2 cores "
                "shared by the server and the load"
            )
            load = Load(port, args.connections)
            try:
                for name, (request, expect) in urls.items():  # warm-up: fills the caches
                    result = load.run(request, 1.0, expect)
                    check(result["bad"] == 0, f"{name}: {result['bad']} answers not 200")
                for _ in range(args.rounds):
                    for name, (request, expect) in urls.items():
                        before = database_counters()
                        server_cpu = process_cpu_seconds(server.pid)
                        load_cpu = time.process_time()
                        result = load.run(request, args.seconds, expect)
                        load_cpu = time.process_time() - load_cpu
                        server_cpu = process_cpu_seconds(server.pid) - server_cpu
                        time.sleep(0.2)  # let a backend that closed report its counters
                        after = database_counters()
                        counters[name][0] += after[0] - before[0]
                        counters[name][1] += after[1] - before[1]
                        total = totals[name]
                        total["requests"] += result["requests"]
                        total["seconds"] += result["seconds"]
                        total["bad"] += result["bad"]
                        total["server_cpu"] += server_cpu
                        total["load_cpu"] += load_cpu
                        total["rates"].append(result["requests"] / result["seconds"])
            finally:
                load.close()
        finally:
            stop_and_show_log(server, log)

    print(
        f"\n{args.rounds} rounds of {args.seconds:.0f} s per URL, alternating, "
        f"{args.connections} connections:"
    )
    rate = {}
    for name, total in totals.items():
        rate[name] = total["requests"] / total["seconds"]
        rates = total["rates"]
        sessions, transactions = counters[name]
        print(
            f"{name:10} {rate[name]:8.0f} req/s  (rounds {min(rates):.0f}-{max(rates):.0f}; "
            f"{total['requests']} requests, {total['bad']} not 200; on the bench database "
            f"while loading: {sessions} sessions opened, {transactions} transactions)"
        )
    cpu = {}
    for name, total in totals.items():
        cpu[name] = total["server_cpu"] / total["requests"] * 1000
        print(
            f"{name:10} server CPU {cpu[name]:.2f} ms per request "
            f"({total['server_cpu'] / total['seconds'] * 100:.0f}% of a core); load tool "
            f"{total['load_cpu'] / total['requests'] * 1000:.3f} ms per request "
            f"({total['load_cpu'] / total['seconds'] * 100:.0f}% of a core)"
        )
    print(f"server CPU per request, bare view / GET mode: {cpu['bare view'] / cpu['GET mode']:.2f}")
    ratio = rate["GET mode"] / rate["bare view"]
    print(f"ratio GET mode / bare view: {ratio:.2f} -> {'met' if ratio >= 0.8 else 'MISSED'}")
    print(
        f"mean time per request: bare view {args.connections / rate['bare view'] * 1000:.2f} ms, "
        f"GET mode {args.connections / rate['GET mode'] * 1000:.2f} ms (server under load)"
    )


if __name__ == "__main__":
    main()
