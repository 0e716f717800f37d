"""`Failsafe.record()`: events buffered in memory and sent in batches from one daemon thread.

The caller's side is an append under a lock held for a few microseconds: it never waits
for the network. The sender thread posts `{"events": [...]}` to
`POST /api/v1/systems/{slug}/events`, one system per request, when `batch_size` events of a
system are waiting, and everything waiting every `flush_interval` seconds.

A batch keeps its event ids across retries, and the server ignores an id it already has: a
batch resent after a lost reply is stored once ("nothing lost, nothing doubled"). What the
client cannot deliver it counts, never raises: `dropped` (the buffer was full, or the client
closed with events still waiting) and `rejected` (the server refused them: invalid events,
or a token problem).

With a spill (`Failsafe(spill_path=...)`, `_spill.py`), a batch the server cannot take
(no connection, a timeout, 429 or 5xx) is written to disk instead of retried in memory,
and so is everything recorded after it while anything waits on disk, so the order is
kept. The oldest spilled batch is sent again after the backoff; once it is taken, the
next goes at once, until the disk is empty and batches go from memory again. A buffer
that fills while the sender waits on a server that does not answer (up to `timeout`) is
moved to disk by `record()` itself, the one time it does I/O, rather than dropped; the
batch that was waiting then goes to disk after it. `close()`
spills what is still waiting while the server is away, and a client started on the same
spill directory sends it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from failsafe_client._spill import Record, Spill

logger = logging.getLogger("failsafe_client")

# The server's limit on events per request.
MAX_BATCH = 5000
# Worth another try: the server (or a proxy before it) may answer differently soon.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# `_post` with a spill: the server could not take the batch, and it goes to disk.
OFFLINE = "offline"

Items = list[tuple[str, bytes]]  # (event id, the event as JSON)


class _Batch:
    """Events of one system on their way: encoded once, resent as they are."""

    __slots__ = ("first", "held", "items", "system")

    def __init__(self, system: str, first: int, held: int) -> None:
        self.system = system
        self.first = first  # the sequence number of its oldest event (for flush())
        self.held = held  # how many events it took from the buffer
        self.items: Items = []


class Recorder:
    """The buffer and the sender thread behind `Failsafe.record()`.

    `backoff(attempt, floor)` is the client's reconnection delay (exponential, with jitter),
    shared so that a test that shortens one shortens both.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        backoff: Callable[[int, float], float],
        batch_size: int,
        flush_interval: float,
        max_buffer: int,
        spill: Spill | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        self._http = http
        self._backoff = backoff
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.max_buffer = max_buffer
        # One condition guards everything below; nobody holds it across network I/O.
        self._cond = threading.Condition(threading.Lock())
        # Per system, (sequence number, event) oldest first. Sequence numbers order events
        # across systems, so flush() knows when everything recorded before it is done.
        self._queues: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        self._seq = 0
        # Events recorded and not yet done with: waiting, or in the batch being sent.
        # max_buffer bounds it.
        self._held = 0
        # Partial batches holding events up to this sequence number go out now (the tick
        # of flush_interval, or flush()); full batches always go at once.
        self._drain_to = 0
        self._inflight: _Batch | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closed = False
        self._full = False  # a full buffer is logged once per episode
        self._refusals: set[int] = set()  # token refusals already logged
        counts = ("sent", "duplicates", "dropped", "rejected", "retries")
        # The spill's counts only with a spill: without one the answer stays as it was.
        self._stats = dict.fromkeys(counts + (("spill_dropped",) if spill else ()), 0)
        self._spill = spill
        # Spill operations are the sender thread's, and close()'s once it gave up on it.
        self._spill_lock = threading.Lock()
        self._on_disk = spill.pending if spill is not None else 0
        self._moving = 0  # taken from memory, being written to disk
        self._retry_at = 0.0  # monotonic: no request before this, after a failed one
        self._attempt = 0
        if self._on_disk:  # left by an earlier process: send it without waiting for record()
            self._start()

    # The caller's side.

    def record(self, event: object, system: str | None) -> str:
        if not isinstance(event, dict):
            raise ValueError(f"an event is a dict, not {type(event).__name__}")
        if not isinstance(system, str) or not system:
            raise ValueError(
                "record() needs a system: pass system= to record() or to Failsafe(...)"
            )
        event = dict(event)  # the caller's dict stays theirs
        event_id = event.get("id")
        if event_id is None:
            event_id = event["id"] = uuid.uuid4().hex
        elif not isinstance(event_id, str):
            event_id = event["id"] = str(event_id)
        ts = event.get("ts")
        if ts is None:
            event["ts"] = datetime.now(timezone.utc).isoformat()  # noqa: UP017 - Python 3.10
        elif isinstance(ts, datetime):
            # A naive datetime is local time, as Python reads it.
            event["ts"] = (ts if ts.tzinfo is not None else ts.astimezone()).isoformat()
        if self._spill is not None and self._held >= self.max_buffer and not self._closed:
            # The sender is stuck on a server that does not answer: with a spill, a full
            # buffer goes to disk from the caller's thread rather than being dropped. Read
            # without the lock: a stale answer only means one more event dropped or moved.
            self._spill_waiting()
        with self._cond:
            if self._closed or self._held >= self.max_buffer:
                self._stats["dropped"] += 1
                if not self._full:
                    self._full = True
                    why = "the client is closed" if self._closed else "the buffer is full"
                    logger.warning("%s: dropping events: %s", system, why)
                return event_id
            self._seq += 1
            queue = self._queues.get(system)
            if queue is None:
                queue = self._queues[system] = deque()
            queue.append((self._seq, event))
            self._held += 1
            if self._thread is None:
                self._start()
            elif len(queue) == self.batch_size:
                self._cond.notify_all()
        return event_id

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="failsafe-record", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # at interpreter shutdown, or out of threads: try next time
            logger.warning("Cannot start the thread that sends events", exc_info=True)
            return
        self._thread = thread

    def flush(self, timeout: float) -> bool:
        """Wait until every event recorded before the call is sent (or refused by the
        server); False if `timeout` seconds pass first."""
        with self._cond:
            target = self._seq

            def done() -> bool:
                return self._floor() > target and not self._on_disk and not self._moving

            if done():
                return True
            self._drain_to = max(self._drain_to, target)
            if self._thread is None and not self._closed:
                self._start()
            self._cond.notify_all()
            return self._cond.wait_for(done, timeout)

    def stats(self) -> dict[str, int]:
        with self._cond:
            stats = {**self._stats, "buffered": self._held}
            if self._spill is not None:
                stats["spilled"] = self._on_disk
            return stats

    def close(self, timeout: float) -> None:
        """Send what is waiting (for up to `timeout` seconds), then stop the thread. What
        is still waiting after that is counted as dropped."""
        with self._cond:
            if self._closed:
                return
            thread = self._thread
            # With the server away, waiting is pointless: what waits goes to disk below.
            away = self._spill is not None and time.monotonic() < self._retry_at
        if thread is not None and not away and not self.flush(timeout):
            logger.warning("Could not send every event within %.1f s of close()", timeout)
        with self._cond:
            self._closed = True
            self._full = False
            self._stopping.set()
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._spill is not None:
            self._spill_waiting()
            with self._spill_lock:
                self._spill.close()
        with self._cond:
            # Anything left: still waiting, or in a request that outlived the join.
            lost = self._held
            self._stats["dropped"] += lost
            self._held = 0
            self._queues.clear()
            self._inflight = None
            self._cond.notify_all()
        if lost:
            logger.warning("Closed with %d events unsent: counted as dropped", lost)

    # The sender thread.

    def _floor(self) -> float:
        """The sequence number of the oldest event not yet done with (inf if none)."""
        heads = [queue[0][0] for queue in self._queues.values() if queue]
        if self._inflight is not None:
            heads.append(self._inflight.first)
        return min(heads, default=float("inf"))

    def _next(self) -> tuple[_Batch, list[dict[str, Any]]] | None:
        """The batch to send now, if any: from the system whose oldest event is oldest,
        among those with a full batch or with events up to `_drain_to`."""
        best: tuple[int, str] | None = None
        for system, queue in self._queues.items():
            if not queue or (best is not None and queue[0][0] > best[0]):
                continue
            if len(queue) >= self.batch_size or queue[0][0] <= self._drain_to:
                best = (queue[0][0], system)
        if best is None:
            return None
        first, system = best
        queue = self._queues[system]
        events = [queue.popleft()[1] for _ in range(min(self.batch_size, len(queue)))]
        self._inflight = _Batch(system, first, len(events))
        return self._inflight, events

    def _run(self) -> None:
        tick = time.monotonic() + self.flush_interval
        while True:
            with self._cond:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                if now >= tick:  # every flush_interval, everything waiting goes
                    self._drain_to = self._seq
                    tick = now + self.flush_interval
                if self._spill is not None and (self._on_disk or now < self._retry_at):
                    # The disk first, so the order is kept: spill what waits in memory,
                    # and send the oldest spilled batch once the backoff is over.
                    due = now >= self._retry_at and self._on_disk > 0
                    if not due and not any(self._queues.values()):
                        self._cond.wait(min(tick, self._retry_at) - now)
                        continue
                    picked = None
                else:
                    picked = self._next()
                    if picked is None:
                        # Nothing due: sleep until the tick, or until a batch fills up or
                        # flush() asks.
                        self._cond.wait(tick - now)
                        continue
            if picked is None:
                self._spill_waiting()
                if due:
                    self._replay()
                continue
            batch, events = picked
            try:
                # Outside the lock: encoding 500 events takes milliseconds, and record()
                # must not wait for it.
                batch.items = self._encode(batch.system, events)
                self._deliver(batch)
                if self._spill is not None and batch.items:  # the server is away, or stopping
                    self._spill_items(batch.system, batch.items)
                    batch.items = []
            except Exception:
                logger.exception("%s: unexpected error sending events", batch.system)
                self._count("dropped", len(batch.items) or batch.held)
                batch.items = []
            with self._cond:
                if self._inflight is batch:  # close() has not given up on it
                    self._inflight = None
                    self._held -= batch.held
                    if batch.items:  # stopped before the server had them
                        self._stats["dropped"] += len(batch.items)
                self._full = self._full and self._held >= self.max_buffer
                self._cond.notify_all()

    def _encode(self, system: str, events: list[dict[str, Any]]) -> Items:
        items: Items = []
        for event in events:
            try:
                items.append((event["id"], json.dumps(event, separators=(",", ":")).encode()))
            except (TypeError, ValueError) as exc:
                self._count("rejected", 1)
                logger.warning("%s: event %s is not JSON: %s", system, event["id"], exc)
        return items

    def _count(self, key: str, n: int) -> None:
        with self._cond:
            self._stats[key] += n

    def _deliver(self, batch: _Batch) -> bool:
        """Send one batch until the server has it or refuses it, or the client stops, or
        (with a spill) the server cannot take it: then True. `batch.items` is left
        holding what was not done with."""
        path = f"/api/v1/systems/{quote(batch.system, safe='')}/events"
        pending = [batch.items]  # a 413 splits a part in two
        offline = False
        while pending:
            items = pending.pop()
            if not items:
                continue
            outcome = self._post(batch.system, path, items)
            if outcome is None or outcome == OFFLINE:  # stopping, or for the disk
                pending.append(items)
                offline = outcome == OFFLINE
                break
            if isinstance(outcome, tuple):  # too large: send the halves, first half first
                pending.extend(reversed(outcome))
            else:
                pending.append(outcome)
        batch.items = [item for part in pending for item in part]
        return offline

    def _post(
        self, system: str, path: str, items: Items
    ) -> Items | tuple[Items, Items] | str | None:
        """POST the items, retrying what is worth retrying. Answers [] when done with them
        (sent or refused), a pair of halves to send instead (413), the items left after
        removing those the server named invalid, None when the client is closing, or
        with a spill OFFLINE instead of retrying (the backoff is then the spill's)."""
        body = b'{"events":[' + b",".join(data for _, data in items) + b"]}"
        attempt = 0
        while True:
            floor = 0.0
            try:
                response = self._http.post(
                    path, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError as exc:  # connection refused or lost, timeouts
                problem = f"{exc!r}"
            else:
                status = response.status_code
                if status < 300:
                    self._accepted(response, len(items))
                    return []
                if status == 413:
                    if len(items) == 1:
                        self._reject(system, items, "413: an event too large to send")
                        return []
                    half = len(items) // 2
                    return items[:half], items[half:]
                if status not in RETRY_STATUSES:
                    return self._refused(system, response, items)
                problem = _describe(response)
                floor = _retry_after(response)
            if self._spill is not None:
                self._went_away(system, len(items), problem, floor)
                return OFFLINE
            if self._stopping.is_set():
                return None
            delay = self._backoff(attempt, floor)
            level = logging.WARNING if attempt == 0 else logging.DEBUG
            logger.log(
                level, "%s: sending %d events failed (%s); retrying", system, len(items), problem
            )
            attempt += 1
            self._count("retries", 1)
            if self._stopping.wait(delay):
                return None

    # The spill.

    def _went_away(self, system: str, n: int, problem: str, floor: float) -> None:
        with self._cond:
            level = logging.WARNING if self._attempt == 0 else logging.DEBUG
            self._retry_at = time.monotonic() + self._backoff(self._attempt, floor)
            self._attempt += 1
            self._stats["retries"] += 1
        logger.log(level, "%s: sending %d events failed (%s); spilling", system, n, problem)

    def _spill_waiting(self) -> None:
        """Move every event waiting in memory to the disk, oldest first."""
        with self._cond:
            waiting = sorted(
                (seq, system, event)
                for system, queue in self._queues.items()
                for seq, event in queue
            )
            self._queues.clear()
            self._moving += len(waiting)
        records: list[Record] = []
        for _, system, event in waiting:
            records.extend((system, *item) for item in self._encode(system, [event]))
        self._spill_write(records, held=len(waiting))

    def _spill_items(self, system: str, items: Items) -> None:
        self._spill_write([(system, *item) for item in items], held=0)

    def _spill_write(self, records: list[Record], held: int) -> None:
        spill = self._spill
        if spill is None:
            return
        with self._spill_lock:
            before = spill.pending
            try:
                dropped = spill.append(records) if records else 0
            except OSError:  # a full or read-only disk: what was not written is lost
                logger.exception("Cannot write events to the spill at %s", spill.path)
                dropped = max(0, len(records) - (spill.pending - before))
            pending = spill.pending
        with self._cond:
            self._held -= held
            self._moving -= held
            self._on_disk = pending
            self._stats["dropped"] += dropped
            self._stats["spill_dropped"] += dropped
            self._full = self._full and self._held >= self.max_buffer
            self._cond.notify_all()

    def _replay(self) -> None:
        """Send the oldest spilled batch; past it on disk once the server has it."""
        spill = self._spill
        if spill is None:
            return
        with self._spill_lock:
            records = spill.peek(self.batch_size)
        if records:
            batch = _Batch(records[0][0], first=0, held=0)
            batch.items = [(event_id, data) for _, event_id, data in records]
            if self._deliver(batch) or self._stopping.is_set():
                return  # on disk still: sent again after the backoff, or by the next client
            with self._spill_lock:
                spill.advance()
        with self._cond:
            self._attempt = 0
            self._on_disk = spill.pending
            self._cond.notify_all()

    def _accepted(self, response: httpx.Response, n: int) -> None:
        try:
            duplicates = int(response.json().get("duplicates", 0))
        except (ValueError, AttributeError, TypeError):
            duplicates = 0
        with self._cond:
            self._stats["sent"] += n
            self._stats["duplicates"] += duplicates
            self._refusals.clear()

    def _refused(self, system: str, response: httpx.Response, items: Items) -> Items:
        status = response.status_code
        errors = _errors(response)
        if status == 400:
            # The server stored none of the batch. Drop the events it named and resend the
            # others (each 400 names at least one more, so this ends); if it named none,
            # drop the batch.
            bad = {e["index"] for e in errors if type(e.get("index")) is int}
            bad &= set(range(len(items)))
            first = errors[0] if errors else {}
            index = first.get("index")
            where = f"event {items[index][0]}" if index in bad else "the batch"
            logger.warning(
                "%s: the server rejected %s: %s: %s",
                system,
                where,
                first.get("field"),
                first.get("message"),
            )
            if bad:
                self._count("rejected", len(bad))
                return [item for i, item in enumerate(items) if i not in bad]
            self._count("rejected", len(items))
            return []
        with self._cond:
            self._stats["rejected"] += len(items)
            first_time = status not in self._refusals
            self._refusals.add(status)
        logger.log(
            logging.WARNING if first_time else logging.DEBUG,
            "%s: the server refused %d events: %s",
            system,
            len(items),
            _describe(response),
        )
        return []

    def _reject(self, system: str, items: Items, why: str) -> None:
        self._count("rejected", len(items))
        logger.warning("%s: dropped event %s: %s", system, items[0][0], why)


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json()["errors"]
    except (ValueError, LookupError, TypeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _describe(response: httpx.Response) -> str:
    """'403 This token may not report events.' from the API's error shape."""
    messages = [str(e.get("message")) for e in _errors(response)[:1]]
    return " ".join([str(response.status_code), *messages])


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", 0)))
    except ValueError:  # an HTTP date: rare enough to ignore
        return 0.0
