"""Kill switch: delay from the click (the POST that changes the mode) to every connected
client seeing the new mode (docs/PERFORMANCE.md).

Starts the real ASGI app (uvicorn, one worker) on the bench database and the Redis channel
layer, then measures two things, each on a fresh server:

(a) C SDK clients (`failsafe_client.Failsafe`, each with its own client id, threads in
    this process) watch one system. A signed-in responder changes its mode K times
    (off / ai alternately, `--gap` apart) by HTTP, as the page does: POST
    /api/v1/systems/<slug>/mode with the session cookie and the CSRF header. For each change
    and client: the time from just before the POST to that client's `on_change` callback.
    Then, after `--quiet` seconds with no change, Q more changes, timed the same way (in
    production a change follows hours of quiet). The server's own view: the ModeAck rows of
    every change (how many clients acknowledged it, and how fast).
(b) N raw Server-Sent Events clients (asyncio sockets in this process: the SDK's thread per
    client would be too heavy at 1,000) open /api/v1/systems/<slug>/mode/stream with a
    token and a client id, as the SDK does; then a few changes, timed from just before the
    POST to each stream receiving `event: mode` with the new revision. The server's memory
    per open stream: its VmRSS with N streams open minus with none, divided by N.

All clocks are this process's `time.perf_counter()`. Same-run baseline: the POST's own
round trip. Experiments to compare with: `--no-ack` and `--gap 2` (see below).

The server runs with `DB_POOL_MAX_SIZE` (default 20): a bound on its PostgreSQL
connections, since the database server is shared and has `max_connections` of 100 (without
the pool, each concurrent request opens its own connection, and 100 clients acknowledge a
change at once). `--db-pool 0` (the product's default) is allowed up to 30 clients. Before
(a), a check on a server without the pool counts the connections held per open stream.
`--no-ack` is an experiment: the clients (in this process) do not acknowledge.

    .venv/bin/python bench/kill_switch.py [-c 100] [-k 20] [--gap 0.5] [-n 1000] [--no-ack]
"""

import argparse
import asyncio
import contextlib
import http.client
import json
import logging
import re
import resource
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk" / "src"))

from common import (
    check,
    free_port,
    percentile,
    person,
    process_status,
    setup_django,
    signed_in_headers,
    start_server,
    stop_server,
    wait_until_up,
)

SLUG = "bench-kill-switch"
CHANGE_TIMEOUT = 5.0  # seconds a change may take to reach every client before it counts missing
# What the server logs when a stream falls back to polling, or leaves a stale group member.
LOST_LAYER = "Mode stream lost the channel layer"
NO_LAYER = "without the channel layer: heartbeats only"
NOT_LEFT = "Could not leave the mode group"
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout)\b")
EVENT_MODE = re.compile(rb"event: mode\nid: (\d+)\n")


# --- Set-up (in this process, on the bench database) --------------------------------------


def prepare(run_id: str) -> dict:
    """The system (at `ai`), a token for it, a responder's session; stale state cleared."""
    from django.conf import settings
    from django.test import Client

    from systems.models import AISystem, ModeClient
    from systems.selectors import mode_state
    from systems.services import mode_change, token_issue

    responder = person("bench-responder", "Responder")
    system, _ = AISystem.objects.get_or_create(
        slug=SLUG,
        defaults={"name": "Kill-switch bench system", "kind": "classifier", "owner": responder},
    )
    # Clients of earlier runs: a server killed mid-run leaves them "connected".
    ModeClient.objects.filter(system=system).delete()
    if mode_state(system).mode != "ai":
        mode_change(actor=responder, system=system, mode="ai", reason="Bench: start from AI.")
    token, raw = token_issue(
        actor=responder, system=system, name=f"bench {run_id}", scopes=["mode:read"]
    )
    client = Client()
    client.force_login(responder)
    return {
        "system": system,
        "responder": responder,
        "token": token,
        "raw_token": raw,
        "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "cookie_name": settings.SESSION_COOKIE_NAME,
    }


def finish(setup: dict) -> None:
    from systems.services import token_revoke

    token_revoke(actor=setup["responder"], token=setup["token"], reason="Bench run over.")


def clear_group() -> None:
    """Forget members left in the mode group by earlier servers (stale channel names)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(f"asgi:group:mode-{SLUG}")


def stream_group_size() -> int:
    """Open streams on the server, as its mode group in Redis counts them."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL).zcard(f"asgi:group:mode-{SLUG}")


def redis_clients() -> int:
    """Connections the Redis server has open now (all its clients, not only ours)."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL).info("clients")["connected_clients"]


def database_backends() -> tuple[int, int]:
    """(backends on the bench database, backends on the whole PostgreSQL server)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE datname = current_database()), count(*) "
            "FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
        return cursor.fetchone()


def max_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        return int(cursor.fetchone()[0])


class BackendMonitor(threading.Thread):
    """Samples the PostgreSQL backends every 50 ms: the peak shows a pile-up."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_bench = self.peak_all = 0

    def run(self):
        from django.db import connection

        try:
            while not self.stop.wait(0.05):
                bench, total = database_backends()
                self.peak_bench = max(self.peak_bench, bench)
                self.peak_all = max(self.peak_all, total)
        finally:
            connection.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(timeout=5)


# --- The server and the click ----------------------------------------------------------


class Server:
    """uvicorn on a free port, with the pool bound; always stopped."""

    def __init__(self, args, pool: int | None = None):
        clear_group()
        self.port = free_port()
        self.pool = args.db_pool if pool is None else pool
        environ = {"DB_POOL_MAX_SIZE": str(self.pool)}
        self.log = tempfile.NamedTemporaryFile("w+", prefix="kill-switch-", suffix=".log")  # noqa: SIM115
        self.process = start_server(self.port, self.log, environ=environ)

    def __enter__(self):
        try:
            wait_until_up(self.process, self.port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        stop_server(self.process)
        # The exceptions the server logged, counted (their tracebacks would bury the figures).
        self.log.seek(0)
        raised = Counter(line.strip()[:160] for line in self.log if EXCEPTION_LINE.match(line))
        if raised:
            print("server log, exceptions:")
            for text, count in raised.most_common(6):
                print(f"  {count:5} x {text}")
        self.log.close()

    def logged(self, text: str) -> int:
        """How many times the server has logged `text`."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().count(text)

    def lost_layer(self) -> int:
        """Streams that logged losing the channel layer (they fall back to polling)."""
        return self.logged(LOST_LAYER)

    def status(self) -> dict[str, int]:
        return process_status(self.process.pid)


class ModeChanger:
    """Changes the mode as the page does: a signed-in responder's POST with the CSRF header,
    over one kept-alive connection."""

    def __init__(self, port: int, setup: dict):
        self.port = port
        self.headers = signed_in_headers(
            port,
            setup["cookie_name"],
            setup["session"],
            **{"Content-Type": "application/json", "Accept": "application/json"},
        )
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.last_used = time.monotonic()
        self.answered: list[float] = []

    def ready(self) -> None:
        """Reconnect if uvicorn may have closed the idle connection (keep-alive 5 s): call
        before taking the time, as a browser would have reconnected before the click."""
        if time.monotonic() - self.last_used > 4.0:
            self.connection.close()
            self.connection.connect()

    def change(self, mode: str) -> int:
        """POST the mode; answer its revision."""
        body = json.dumps({"mode": mode, "reason": f"Bench: mode change to {mode}."})
        sent = time.perf_counter()
        self.connection.request("POST", f"/api/v1/systems/{SLUG}/mode", body, self.headers)
        response = self.connection.getresponse()
        answer = response.read()
        self.answered.append((time.perf_counter() - sent) * 1000)
        self.last_used = time.monotonic()
        check(response.status == 200, f"POST mode answered {response.status}: {answer[:300]!r}")
        payload = json.loads(answer)
        check(payload["mode"] == mode, f"POST mode answered {payload}")
        return payload["revision"]

    def close(self):
        self.connection.close()


def modes(count: int, after: list[str] = ()) -> list[str]:
    """`count` changes alternating off / ai, starting away from the last of `after` (the
    mode starts at ai); a change to the mode already set would be refused."""
    other = {"off": "ai", "ai": "off"}
    sequence, mode = [], other[after[-1]] if after else "off"
    for _ in range(count):
        sequence.append(mode)
        mode = other[mode]
    return sequence


def line(label: str, values: list[float]) -> None:
    if not values:
        print(f"{label:44} (none)")
        return
    print(
        f"{label:44} p50 {percentile(values, 50):7.1f}  p99 {percentile(values, 99):7.1f}  "
        f"max {max(values):7.1f} ms  (n={len(values)})"
    )


# --- Check: PostgreSQL connections held per open stream -----------------------------------


def connections_check(args, setup, streams: int = 10) -> None:
    """On a server without the pool (as deployed by default), open a few streams and count
    the PostgreSQL backends and server threads they hold. Small on purpose: the database
    server is shared."""
    print(f"\n== check: what {streams} open streams hold (server without the pool) ==")

    settled, release = threading.Event(), threading.Event()

    async def hold(port):
        opened = await asyncio.gather(*(open_raw(port, setup) for _ in range(streams)))
        await asyncio.sleep(1.0)  # past the opening: what stays held now stays
        settled.set()
        await asyncio.to_thread(release.wait, 30)
        for _reader, writer in opened:
            writer.close()

    with Server(args, pool=0) as server:
        before_status = server.status()
        before = database_backends()[0]
        task = threading.Thread(target=asyncio.run, args=(asyncio.wait_for(hold(server.port), 60),))
        task.start()
        try:
            check(settled.wait(40), "the check's streams did not open")
            after = database_backends()[0]
            during_status = server.status()
        finally:
            release.set()
            task.join(timeout=60)
        time.sleep(1.0)
        closed = database_backends()[0]
    held = after - before
    threads = during_status["Threads"] - before_status["Threads"]
    print(
        f"bench-database backends: {before} before, {after} with {streams} streams open 1 s "
        f"({held / streams:.1f} per stream), {closed} after closing them"
    )
    print(f"server threads: {before_status['Threads']} -> {during_status['Threads']} (+{threads})")
    if held >= streams // 2:
        print(
            "=> each open stream keeps a PostgreSQL connection until it closes: C open streams "
            f"need C connections (max_connections here: {max_connections()})."
        )


async def open_raw(port: int, setup: dict, client_id: str | None = None):
    """A raw SSE connection, as the SDK makes it (with a client id, the server counts it
    among the connected clients); answers once the first event is in."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    query = f"?client={client_id}" if client_id else ""
    writer.write(
        (
            f"GET /api/v1/systems/{SLUG}/mode/stream{query} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {setup['raw_token']}\r\n"
            "Accept: text/event-stream\r\nAccept-Encoding: identity\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        writer.close()
        raise RuntimeError(f"stream answered {status}")
    await asyncio.wait_for(reader.readuntil(b"event: mode"), 30)
    return reader, writer


# --- (a) C SDK clients ------------------------------------------------------------------


def sdk_clients(args, setup) -> dict:
    from failsafe_client import Failsafe

    from systems.models import ModeAck, ModeChange

    print(f"\n== (a) {args.clients} SDK clients, {args.k} changes {args.gap:.2f} s apart ==")
    run_id = secrets.token_hex(3)
    arrived = [{} for _ in range(args.clients)]
    counts: dict[int, int] = defaultdict(int)
    condition = threading.Condition()

    def callback_for(index):
        def on_change(slug, mode, revision):
            at = time.perf_counter()
            arrived[index].setdefault(revision, at)
            with condition:
                counts[revision] += 1
                condition.notify_all()

        return on_change

    def wait_all(revision: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with condition:
            while counts[revision] < args.clients:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                condition.wait(left)
            return counts[revision]

    if args.no_ack:
        # Experiment: the clients stop acknowledging (this process only), to see what the
        # acknowledgement POSTs cost the changes.
        Failsafe._send_ack = lambda self, slug, revision: None
    result = {"complete": False}
    with Server(args) as server, BackendMonitor() as monitor:
        url = f"http://127.0.0.1:{server.port}"

        def make(index):
            client = Failsafe(
                url, setup["raw_token"], client_id=f"bench-{run_id}-{index:03d}", timeout=5.0
            )
            client.on_change(callback_for(index))
            client.watch(SLUG, wait=True)
            return client

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=10) as pool:
            clients = list(pool.map(make, range(args.clients)))
        deadline = time.monotonic() + 15
        while stream_group_size() < args.clients and time.monotonic() < deadline:
            time.sleep(0.1)
        streams = stream_group_size()
        print(
            f"{args.clients} clients watching in {time.perf_counter() - started:.1f} s; "
            f"streams open on the server: {streams}"
        )
        changer = ModeChanger(server.port, setup)
        try:
            if streams < args.clients:
                print(
                    f"=> only {streams} of {args.clients} streams opened: the others were "
                    f"refused (the server's {server.pool} pooled PostgreSQL connections are "
                    "each held by an open stream? See the check above). Not timing changes."
                )
                result["streams"] = streams
                return result
            time.sleep(1.0)

            def timed(mode_list, gap_before, gap_after, label):
                delays, missing, spreads = [], 0, []
                revisions = []
                for mode in mode_list:
                    if gap_before:
                        time.sleep(gap_before)
                    changer.ready()
                    sent = time.perf_counter()
                    revision = changer.change(mode)
                    got = wait_all(revision, CHANGE_TIMEOUT)
                    if got < args.clients:
                        missing += args.clients - got
                        print(f"{label} r{revision}: {args.clients - got} clients missing")
                    times = [(a[revision] - sent) * 1000 for a in arrived if revision in a]
                    delays.extend(times)
                    if times:
                        spreads.append(max(times) - min(times))
                    revisions.append(revision)
                    if gap_after:
                        time.sleep(gap_after)
                return delays, missing, spreads, revisions

            warmup = modes(args.warmup)
            timed(warmup, 0, args.gap, "warm-up")
            changer.answered.clear()
            lost_before = server.lost_layer()
            # Each phase changes away from where the one before left the mode.
            changes = modes(args.k, after=warmup)
            delays, missing, spreads, revisions = timed(changes, 0, args.gap, "change")
            answered = list(changer.answered)
            lost_during = server.lost_layer() - lost_before
            quiet_delays, quiet_missing, _, quiet_revisions = (
                timed(modes(args.after_quiet, after=warmup + changes), args.quiet, 0, "after quiet")
                if args.after_quiet
                else ([], 0, [], [])
            )
            lost_total = server.lost_layer()
            # The server's own view: ModeAck rows per change, and their delay after the change.
            last = (quiet_revisions or revisions)[-1]
            deadline = time.monotonic() + 10
            acked_last = 0
            while time.monotonic() < deadline:
                acked_last = ModeAck.objects.filter(
                    system=setup["system"], revision=last, client_id__startswith=f"bench-{run_id}"
                ).count()
                if acked_last >= args.clients:
                    break
                time.sleep(0.1)
            from systems.selectors import mode_change_effect

            effect = mode_change_effect(setup["system"])
            changed = dict(
                ModeChange.objects.filter(
                    system=setup["system"], revision__in=revisions
                ).values_list("revision", "at")
            )
            ack_counts, ack_delays = defaultdict(int), []
            for revision, at in ModeAck.objects.filter(
                system=setup["system"],
                revision__in=revisions,
                client_id__startswith=f"bench-{run_id}",
            ).values_list("revision", "at"):
                ack_counts[revision] += 1
                ack_delays.append((at - changed[revision]).total_seconds() * 1000)
        finally:
            changer.close()
            # Close in parallel: each close waits for its threads.
            with ThreadPoolExecutor(max_workers=50) as pool:
                list(pool.map(lambda c: c.close(), clients))
        deadline = time.monotonic() + 10
        while stream_group_size() and time.monotonic() < deadline:
            time.sleep(0.2)
        stale = stream_group_size()
        not_left = server.logged(NOT_LEFT)
        status = server.status()
        peak_bench, peak_all = monitor.peak_bench, monitor.peak_all
    result.update(
        complete=True,
        delays=delays,
        missing=missing,
        spreads=spreads,
        answered=answered,
        expected=args.clients * args.k,
        quiet_delays=quiet_delays,
        quiet_missing=quiet_missing,
        quiet_expected=args.clients * args.after_quiet,
        lost_during=lost_during,
        lost_total=lost_total,
        acked_last=acked_last,
        last_revision=last,
        effect=effect,
        ack_counts=[ack_counts[r] for r in revisions],
        ack_delays=ack_delays,
        peak_bench=peak_bench,
        peak_all=peak_all,
        pool=server.pool,
        server_status=status,
        stale=stale,
        not_left=not_left,
    )
    return result


def report_sdk(args, result) -> None:
    if not result.get("complete"):
        print("(a) not measured")
        return
    print(
        f"\n(a) {args.k} changes (after {args.warmup} warm-up) x {args.clients} SDK clients, "
        f"{args.gap:.2f} s apart:"
    )
    delays = result["delays"]
    print(f"delivered {len(delays)} of {result['expected']} (missing {result['missing']})")
    line("POST -> on_change at each client", delays)
    line("first -> last client, per change", result["spreads"])
    line("baseline: POST round trip", result["answered"])
    if result["quiet_expected"]:
        print(
            f"after {args.quiet:.0f} s of quiet, {args.after_quiet} changes: delivered "
            f"{len(result['quiet_delays'])} of {result['quiet_expected']}"
        )
        line(f"POST -> on_change after {args.quiet:.0f} s quiet", result["quiet_delays"])
    print(
        f"streams that lost the channel layer (server log): {result['lost_during']} while "
        f"changing, {result['lost_total']} in the whole run (these fall back to polling)"
    )
    print(
        f"after the clients closed: {result['stale']} stale members left in the mode group "
        f"({result['not_left']} streams logged that they could not leave it)"
    )
    effect = result["effect"]
    print(
        f"server view after the last change (r{result['last_revision']}): ModeAck rows "
        f"{result['acked_last']} of {args.clients}; the system page says {effect.acked} of "
        f"{effect.clients} clients on {effect.mode.upper()} after "
        f"{effect.slowest_seconds if effect.slowest_seconds is not None else float('nan'):.2f} s"
    )
    counts = result["ack_counts"]
    if args.no_ack:
        print("(--no-ack: the clients did not acknowledge)")
    print(f"ModeAck rows per timed change: min {min(counts)}, max {max(counts)} of {args.clients}")
    line("server: mode change -> ModeAck (ModeAck.at - change)", result["ack_delays"])
    print(
        f"PostgreSQL backends, peak while measuring: {result['peak_bench']} on the bench "
        f"database (server pool {result['pool']}), {result['peak_all']} on the server"
    )
    p99 = percentile(delays, 99) if delays else float("inf")
    complete = result["missing"] == 0 and len(delays) == result["expected"]
    verdict = "met" if complete and p99 <= 250 else "MISSED"
    goal = "met" if complete and p99 <= 100 else "not met"
    print(f"target p99 <= 250 ms, all delivered: {p99:.1f} ms -> {verdict} (goal 100 ms: {goal})")


# --- (b) N raw streams ----------------------------------------------------------------


def raw_streams(args, setup) -> dict:
    print(f"\n== (b) {args.streams} open streams on one server process ==")
    with Server(args) as server, BackendMonitor() as monitor:
        result = asyncio.run(asyncio.wait_for(raw_run(args, setup, server), 600))
        result["peak_bench"], result["peak_all"] = monitor.peak_bench, monitor.peak_all
        result["pool"] = server.pool
        result["lost"] = server.lost_layer()
        result["no_layer"] = server.logged(NO_LAYER)
        result["not_left"] = server.logged(NOT_LEFT)
    return result


async def raw_run(args, setup, server) -> dict:
    run_id = secrets.token_hex(3)
    port, total = server.port, args.streams
    arrived: list[dict[int, float]] = [{} for _ in range(total)]
    counts: dict[int, int] = defaultdict(int)
    complete: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
    errors: list[str] = []
    settled = asyncio.Event()  # every stream open or refused
    open_count = 0

    async def stream(index):
        nonlocal open_count
        try:
            reader, writer = await open_raw(port, setup, f"bench-raw-{run_id}-{index:04d}")
        except (OSError, RuntimeError, TimeoutError, asyncio.IncompleteReadError) as exc:
            errors.append(repr(exc))
            if open_count + len(errors) == total:
                settled.set()
            return
        open_count += 1
        if open_count + len(errors) == total:
            settled.set()
        tail = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                at = time.perf_counter()
                tail = tail[-40:] + data
                for found in EVENT_MODE.finditer(tail):
                    revision = int(found.group(1))
                    if revision not in arrived[index]:
                        arrived[index][revision] = at
                        counts[revision] += 1
                        if counts[revision] == total:
                            complete[revision].set()
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=1)
    changer = ModeChanger(port, setup)
    # Warm the server up (one stream, one read), then its memory with no stream open.
    _reader, writer = await open_raw(port, setup, f"bench-raw-{run_id}-warm")
    writer.close()
    await asyncio.sleep(2.0)
    idle = server.status()
    before_backends = await loop.run_in_executor(pool, database_backends)
    before_redis = await loop.run_in_executor(pool, redis_clients)

    started = time.perf_counter()
    tasks = []
    for batch in range(0, total, args.batch):
        tasks += [
            asyncio.create_task(stream(i)) for i in range(batch, min(total, batch + args.batch))
        ]
        await asyncio.sleep(0.2)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(settled.wait(), 60)
    opening = time.perf_counter() - started
    print(
        f"{open_count} of {total} streams open in {opening:.1f} s"
        + (f"; {len(errors)} refused, e.g. {errors[0]}" if errors else "")
    )
    await asyncio.sleep(3.0)
    full = server.status()
    full_backends = await loop.run_in_executor(pool, database_backends)
    group = await loop.run_in_executor(pool, stream_group_size)
    full_redis = await loop.run_in_executor(pool, redis_clients)
    result = {
        "redis": (before_redis, full_redis),
        "open": open_count,
        "refused": len(errors),
        "opening_s": opening,
        "idle": idle,
        "full": full,
        "backends": (before_backends[0], full_backends[0]),
        "group": group,
        "delays": [],
        "expected": 0,
        "missing": 0,
    }
    if open_count == total:
        changes = modes(args.raw_warmup + args.raw_changes)
        for n, mode in enumerate(changes):
            await loop.run_in_executor(pool, changer.ready)
            sent = time.perf_counter()
            revision = await loop.run_in_executor(pool, changer.change, mode)
            try:
                await asyncio.wait_for(complete[revision].wait(), 10)
            except TimeoutError:
                if n >= args.raw_warmup:
                    result["missing"] += total - counts[revision]
                print(f"r{revision}: {total - counts[revision]} streams had nothing after 10 s")
            if n >= args.raw_warmup:
                times = [(a[revision] - sent) * 1000 for a in arrived if revision in a]
                result["delays"].extend(times)
                result["expected"] += total
            await asyncio.sleep(args.raw_gap)
        result["answered"] = changer.answered[args.raw_warmup :]
    else:
        print(
            f"=> {total - open_count} streams could not open: not timing changes. The server's "
            f"{server.pool} pooled PostgreSQL connections are each held by an open stream? "
            "(see the check)"
        )
    changer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Let the server wind the streams down, then look again.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and await loop.run_in_executor(pool, stream_group_size):
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    result["after"] = server.status()
    result["after_backends"] = (await loop.run_in_executor(pool, database_backends))[0]
    result["after_group"] = await loop.run_in_executor(pool, stream_group_size)
    result["after_redis"] = await loop.run_in_executor(pool, redis_clients)
    pool.shutdown()
    return result


def report_raw(args, result) -> None:
    total = args.streams
    idle, full, after = result["idle"], result["full"], result["after"]
    print(f"\n(b) {total} raw streams, {args.raw_changes} changes after {args.raw_warmup} warm-up:")
    print(
        f"open: {result['open']} of {total} in {result['opening_s']:.1f} s "
        f"(refused {result['refused']}); server's mode group: {result['group']} members"
    )
    delays = result["delays"]
    if delays:
        print(f"delivered {len(delays)} of {result['expected']} (missing {result['missing']})")
        line("POST -> event at each stream", delays)
        line("baseline: POST round trip", result["answered"])
    rss = (full["VmRSS"] - idle["VmRSS"]) / max(1, result["open"])
    print(
        f"server VmRSS: {idle['VmRSS'] / 1024:.1f} MiB with 0 streams, "
        f"{full['VmRSS'] / 1024:.1f} MiB with {result['open']}: {rss:.1f} KiB per open stream; "
        f"{after['VmRSS'] / 1024:.1f} MiB after they closed"
    )
    print(
        f"server threads: {idle['Threads']} with 0 streams, {full['Threads']} with "
        f"{result['open']}, {after['Threads']} after"
    )
    print(
        f"bench-database backends: {result['backends'][0]} with 0 streams, "
        f"{result['backends'][1]} with {result['open']}, {result['after_backends']} after; "
        f"peak {result['peak_bench']} (server pool {result['pool']}), whole server peak "
        f"{result['peak_all']}; mode group after: {result['after_group']}"
    )
    print(
        f"Redis connections (the whole Redis server): {result['redis'][0]} with 0 streams, "
        f"{result['redis'][1]} with {result['open']}, {result['after_redis']} after"
    )
    print(
        f"server log: {result['no_layer']} streams opened without the channel layer, "
        f"{result['lost']} lost it while open (both poll instead), {result['not_left']} could "
        f"not leave the mode group when closed"
    )
    if delays:
        p99 = percentile(delays, 99)
        complete = result["missing"] == 0 and len(delays) == result["expected"]
        verdict = "met" if complete and p99 <= 1000 else "MISSED"
        print(f"target p99 <= 1 s, all delivered: {p99:.1f} ms -> {verdict}")


# --- Main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--clients", type=int, default=100, help="SDK clients (a)")
    parser.add_argument("-k", type=int, default=20, help="timed changes (a)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed changes first (a)")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between changes (a)")
    parser.add_argument("--quiet", type=float, default=20.0, help="quiet seconds (a)")
    parser.add_argument(
        "--after-quiet", type=int, default=2, help="changes each after --quiet seconds (a)"
    )
    parser.add_argument(
        "--no-ack", action="store_true", help="experiment: SDK clients do not acknowledge (a)"
    )
    parser.add_argument("-n", "--streams", type=int, default=1000, help="raw streams (b)")
    parser.add_argument("--batch", type=int, default=50, help="streams opened at once (b)")
    parser.add_argument("--raw-changes", type=int, default=5, help="timed changes (b)")
    parser.add_argument("--raw-warmup", type=int, default=1, help="untimed changes (b)")
    parser.add_argument("--raw-gap", type=float, default=1.0, help="seconds between (b)")
    parser.add_argument(
        "--db-pool", type=int, default=20, help="the server's DB_POOL_MAX_SIZE (> 0: a bound)"
    )
    parser.add_argument("--only", choices=["check", "a", "b"], action="append")
    args = parser.parse_args()
    if args.db_pool <= 0 and (args.clients > 30 or "b" in set(args.only or ["b"])):
        sys.exit(
            "--db-pool 0 only with -c 30 or fewer and --only a/check: without the pool each "
            "acknowledgement opens a connection, and the shared PostgreSQL server has few"
        )
    parts = set(args.only or ["check", "a", "b"])

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * args.streams + 512  # our sockets and the server's (it inherits the limit)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    check(soft >= needed, f"open-files limit {soft} < {needed}")

    setup_django()
    # 100 clients' INFO lines (each change, each acknowledgement) would drown the figures.
    for name in ("httpx", "failsafe_client"):
        logging.getLogger(name).setLevel(logging.WARNING)
    print(
        f"PostgreSQL max_connections {max_connections()}, client backends now "
        f"{database_backends()[1]}; server DB_POOL_MAX_SIZE {args.db_pool}; 2 cores shared "
        "by the server and the clients"
    )
    setup = prepare(secrets.token_hex(3))
    try:
        if "check" in parts:
            connections_check(args, setup)
        if "a" in parts:
            report_sdk(args, sdk_clients(args, setup))
        if "b" in parts:
            report_raw(args, raw_streams(args, setup))
    finally:
        finish(setup)


if __name__ == "__main__":
    main()
