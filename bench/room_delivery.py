"""Incident room: delay from posting a message to each of 50 connected pages receiving it
(docs/PERFORMANCE.md).

Starts the real ASGI app (`uvicorn config.asgi:application --lifespan off`) on a free local
port, on the bench database and the Redis channel layer. Opens C WebSocket clients to one
incident's room the way static/js/room.js does (session cookie, same-origin Origin header,
`{"type": "hello", "after": <last id>}`), each signed in as its own viewer. Then posts K
messages one after another as a responder, by HTTP like the page's form (htmx POST to
/incidents/<n>/messages/ with the CSRF header), and times, for every message and every
client, from just before the POST to that client receiving the entry with the message's
text. All clocks are this process's `time.perf_counter()`.

Same-run baselines: the POST's own round trip (the message stored and rendered) and a
WebSocket ping/pong round trip to the same server (the transport alone).

    .venv/bin/python bench/room_delivery.py [-c 50] [-k 30] [--via http|service]
"""

import argparse
import asyncio
import http.client
import json
import re
import secrets
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    free_port,
    percentile,
    person,
    setup_django,
    signed_in_headers,
    start_server,
    stop_and_show_log,
    wait_until_up,
)

ROOM_TITLE = "Bench: the room"
MARKER = re.compile(r"bench-room-(\w+)-(\d+)")
DELIVERY_TIMEOUT = 5.0  # seconds a message may take to reach every client
RUN_TIMEOUT = 300.0


def prepare(clients: int):
    """The room's incident, a responder who posts, one viewer per client, their sessions."""
    from django.conf import settings
    from django.test import Client

    from incidents.models import Incident, TimelineEntry
    from incidents.services.incident import incident_declare
    from systems.models import AISystem

    poster = person("bench-responder", "Responder")
    incident = Incident.objects.filter(title=ROOM_TITLE).first()
    if incident is None:
        system, _ = AISystem.objects.get_or_create(
            slug="bench-room-system",
            defaults={"name": "Room bench system", "kind": "generator", "owner": poster},
        )
        incident = incident_declare(
            actor=poster, title=ROOM_TITLE, systems=[system], harm="wrong", lead=poster
        )

    def session_of(user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    viewers = [person(f"bench-room-viewer-{i:02d}", "Viewer") for i in range(1, clients + 1)]
    last = TimelineEntry.objects.filter(incident=incident).order_by("-pk").first()
    return {
        "incident": incident,
        "poster": poster,
        "poster_session": session_of(poster),
        "sessions": [session_of(v) for v in viewers],
        "last_id": last.pk if last else 0,
        "cookie_name": settings.SESSION_COOKIE_NAME,
    }


class Poster:
    """Posts messages as the page's form does (htmx POST), over one kept-alive connection;
    or, with --via service, straight through incident_message_post in this process."""

    def __init__(self, port: int, setup: dict, via: str):
        self.port, self.via = port, via
        self.incident, self.poster = setup["incident"], setup["poster"]
        self.headers = signed_in_headers(
            port,
            setup["cookie_name"],
            setup["poster_session"],
            **{"HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"},
        )
        self.connection = None

    def get(self, path: str) -> None:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k != "Content-Type"}
        self.connection.request("GET", path, headers=headers)
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")

    def post(self, text: str) -> None:
        if self.via == "service":
            from incidents.services.timeline import incident_message_post

            incident_message_post(actor=self.poster, incident=self.incident, text=text)
            return
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = urllib.parse.urlencode({"text": text})
        self.connection.request(
            "POST", f"/incidents/{self.incident.number}/messages/", body, self.headers
        )
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200 or text.encode() not in answer:
            raise RuntimeError(f"POST answered {response.status}: {answer[:300]!r}")


async def run(args, setup, port) -> dict:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    run_id = secrets.token_hex(3)
    number = setup["incident"].number
    total = args.warmup + args.k
    arrived = [[None] * args.c for _ in range(total)]
    remaining = [args.c] * total
    all_in = [asyncio.Event() for _ in range(total)]

    async def reader(index, socket_):
        try:
            async for raw in socket_:
                message = json.loads(raw)
                if message.get("type") != "entry":
                    continue
                found = MARKER.search(message.get("html", ""))
                if not found or found.group(1) != run_id:
                    continue
                k = int(found.group(2))
                if arrived[k][index] is None:
                    arrived[k][index] = time.perf_counter()
                    remaining[k] -= 1
                    if remaining[k] == 0:
                        all_in[k].set()
        except ConnectionClosed as closed:
            print(f"client {index}: the server closed the socket ({closed})")

    async def open_client(session):
        socket_ = await connect(
            f"ws://127.0.0.1:{port}/ws/incidents/{number}/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"{setup['cookie_name']}={session}"},
            proxy=None,
            open_timeout=10,
            ping_interval=None,
        )
        await socket_.send(json.dumps({"type": "hello", "after": setup["last_id"]}))
        return socket_

    started = time.perf_counter()
    sockets = await asyncio.gather(*(open_client(s) for s in setup["sessions"]))
    readers = [asyncio.create_task(reader(i, s)) for i, s in enumerate(sockets)]
    print(f"{args.c} clients connected in {time.perf_counter() - started:.2f} s")
    await asyncio.sleep(1.0)  # let the presence broadcasts of 50 arrivals settle

    # Baseline: the transport alone, a WebSocket ping answered by the server's protocol.
    pings = []
    for _ in range(5):
        for socket_ in sockets:
            sent = time.perf_counter()
            await (await socket_.ping())
            pings.append((time.perf_counter() - sent) * 1000)

    poster = Poster(port, setup, args.via)
    pool = ThreadPoolExecutor(max_workers=1)  # one thread: one DB / HTTP connection
    loop = asyncio.get_running_loop()

    # Baseline: a trivial signed-in page over the same server, clients connected.
    pages = []
    for n in range(5 + args.k):
        sent = time.perf_counter()
        await loop.run_in_executor(pool, poster.get, "/roles/")
        if n >= 5:
            pages.append((time.perf_counter() - sent) * 1000)

    sessions_before = await loop.run_in_executor(pool, database_sessions)
    posted, answered, missing = [None] * total, [], 0
    for k in range(total):
        text = f"bench-room-{run_id}-{k}: fallback queue depth back under 500."
        posted[k] = time.perf_counter()
        await loop.run_in_executor(pool, poster.post, text)
        if k >= args.warmup:
            answered.append((time.perf_counter() - posted[k]) * 1000)
        try:
            await asyncio.wait_for(all_in[k].wait(), DELIVERY_TIMEOUT)
        except TimeoutError:
            missing += remaining[k]
            print(f"message {k}: {remaining[k]} of {args.c} clients had nothing after 5 s")
        await asyncio.sleep(args.gap)
    opened = await loop.run_in_executor(pool, database_sessions) - sessions_before
    pool.shutdown()

    for task in readers:
        task.cancel()
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    delays, spreads = [], []
    for k in range(args.warmup, total):
        got = [(t - posted[k]) * 1000 for t in arrived[k] if t is not None]
        delays.extend(got)
        if got:
            spreads.append(max(got) - min(got))
    return {
        "delays": delays,
        "expected": args.c * args.k,
        "missing": missing,
        "answered": answered,
        "pings": pings,
        "pages": pages,
        "spreads": spreads,
        "db_sessions": opened,
    }


def database_sessions() -> int:
    """PostgreSQL sessions ever opened on the bench database (pg_stat_database, PG 14+)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def report(args, result) -> None:
    delays, answered, pings = result["delays"], result["answered"], result["pings"]
    print(
        f"\n{args.k} messages (after {args.warmup} warm-up) x {args.c} clients, posted via "
        f"{args.via}, {args.gap * 1000:.0f} ms apart:"
    )
    print(f"delivered {len(delays)} of {result['expected']}")
    if not delays:
        return

    def line(label, values):
        print(
            f"{label:38} p50 {percentile(values, 50):6.1f}  p95 {percentile(values, 95):6.1f}  "
            f"p99 {percentile(values, 99):6.1f}  max {max(values):6.1f} ms"
        )

    line("post -> entry at each client", delays)
    line("first -> last client, per message", result["spreads"])
    if answered and args.via == "http":
        line("baseline: POST round trip", answered)
    line("baseline: GET /roles/ round trip", result["pages"])
    line("baseline: WebSocket ping round trip", pings)
    p95 = percentile(delays, 95)
    print(f"delivery p95 / GET /roles/ p95: {p95 / percentile(result['pages'], 95):.1f}x")
    if answered and args.via == "http":
        print(f"delivery p95 / POST p95: {p95 / percentile(answered, 95):.1f}x")
    if args.via == "http":
        print(
            f"PostgreSQL sessions opened while posting {args.warmup + args.k} messages: "
            f"{result['db_sessions']} (under ASGI each request runs in a thread of its own; "
            "set DB_POOL_MAX_SIZE to share pooled connections instead)"
        )
    complete = len(delays) == result["expected"]
    verdict = "met" if p95 <= 100 and complete else "MISSED"
    print(f"target p95 <= 100 ms, all delivered: {p95:.1f} ms -> {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", type=int, default=50, help="connected clients")
    parser.add_argument("-k", type=int, default=30, help="timed messages")
    parser.add_argument("--warmup", type=int, default=3, help="untimed messages first")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between messages")
    parser.add_argument("--via", choices=["http", "service"], default="http")
    args = parser.parse_args()

    setup_django()
    setup = prepare(args.c)
    # Forget room members left by an earlier run that was killed mid-way.
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(
        f"asgi:group:incident-{setup['incident'].number}"
    )

    port = free_port()
    with tempfile.NamedTemporaryFile("w+", prefix="room-bench-", suffix=".log") as log:
        server = start_server(port, log)
        try:
            wait_until_up(server, port)
            number = setup["incident"].number
            print(f"server: uvicorn pid {server.pid} on 127.0.0.1:{port}, room of INC-{number}")
            result = asyncio.run(asyncio.wait_for(run(args, setup, port), RUN_TIMEOUT))
        finally:
            stop_and_show_log(server, log)
    report(args, result)


if __name__ == "__main__":
    main()
