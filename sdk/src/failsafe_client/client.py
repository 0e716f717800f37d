"""The Failsafe client: the runtime mode of each AI system, always answerable, kept fresh.

`mode(slug)` is a dictionary read. Everything else happens on daemon threads:

- one per watched system, which holds the Server-Sent Events stream open
  (`GET /api/v1/systems/{slug}/mode/stream`), reconnects with exponential backoff and
  jitter when it drops, and while it is down polls `GET .../mode` (at once, then every
  `poll_interval` seconds, with `If-None-Match`);
- one for the whole client, which acknowledges each applied revision
  (`POST .../mode/ack`) as soon as it is applied, and every 30 seconds as a heartbeat so the
  server lists the client among the connected ones.

The threads write the new mode into the dictionary (one assignment, atomic under the GIL),
save it to the cache directory, and call the `on_change` callbacks.

`record(event)` appends to an in-memory buffer; one more daemon thread, started by the first
`record()`, sends the buffer in batches (`_recorder.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import quote

import httpx

from failsafe_client import _store
from failsafe_client._gate import Fallback, Gate, GateDecision
from failsafe_client._recorder import Recorder
from failsafe_client._spill import Spill
from failsafe_client._sse import ServerEvent, SSEDecoder

logger = logging.getLogger("failsafe_client")

Mode = Literal["ai", "degraded", "human", "off"]
MODES: tuple[Mode, ...] = ("ai", "degraded", "human", "off")

ChangeCallback = Callable[[str, Mode, int], object]

# The server sends a heartbeat every 15 s: three missed ones and the connection is dead.
STREAM_SILENCE = 45.0
# Reconnect delays: 0.5 s doubling to 30 s, each drawn from its upper half at random so a
# fleet of clients cut off together does not come back together.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
# A stream that stayed up this long was healthy: the next drop starts the backoff afresh.
STREAM_STABLE = 30.0
ACK_HEARTBEAT = 30.0


def _user_agent() -> str:
    from failsafe_client import __version__

    return f"failsafe-client/{__version__} httpx/{httpx.__version__}"


class _Watch:
    """What the thread watching one system keeps between connections."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.path = f"/api/v1/systems/{quote(slug, safe='')}/mode"
        self.thread: threading.Thread | None = None
        # Set once the server has answered (stream or poll): `watch(wait=True)` waits on it.
        self.synced = threading.Event()
        self.etag: str | None = None
        self.acked: int | None = None
        self.retry_floor = 0.0
        # The kinds of problem logged since the server was last reached.
        self.trouble: set[str] = set()
        # The stream answered as a stream this time round (so its end is a drop).
        self.up = False
        self.lock = threading.Lock()
        self.response: httpx.Response | None = None

    def interrupt(self) -> None:
        """Wake the thread if it is blocked reading the stream (called by `close()`).
        Closing a socket from another thread does not wake a blocked read; shutting it
        down does."""
        with self.lock:
            response = self.response
        if response is None:
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Refused(Exception):
    """The server answered, but not with what was asked for."""


class Failsafe:
    """The runtime mode of your AI systems, from the Failsafe server at `url`.

    `token` is the system's API token (`fsk_…`, scope `mode:read`). `default_mode` is what
    `mode()` answers for a system never heard from, on this machine or from its cache
    directory. `cache_dir`, if given, keeps the last known mode of each system (and this
    client's id) so a restart with the server unreachable still obeys it. `client_id` names
    this process to the server in the list of connected clients; by default a random id,
    kept in `cache_dir` when there is one. `poll_interval` is how often to ask while the
    stream is down; `timeout` bounds each HTTP call. `transport` is for tests.

    `record(event)` reports an inference (token scope `events:write`) to `system`, or to the
    system named in the call. Events go out from a background thread when `batch_size` of
    them wait or every `flush_interval` seconds; at most `max_buffer` wait, and beyond that
    new ones are dropped and counted (`record_stats()`). With `spill_path` (a directory of
    this process's own), events the server cannot take wait on disk instead, up to
    `spill_max_bytes` (the oldest dropped first, counted), and are sent in order when it
    is back, also by the next process started on the same directory.

    `gate(action, subject)` asks before an irreversible action (token scope `gate`); when
    Failsafe cannot answer, the action's declared default does: `gate_defaults` (per action
    type, over what the owner declared in Failsafe), else `gate_default` ("hold").
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        default_mode: Mode = "ai",
        cache_dir: str | Path | None = None,
        client_id: str | None = None,
        poll_interval: float = 15.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        system: str | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
        spill_path: str | Path | None = None,
        spill_max_bytes: int = 64 * 1024 * 1024,
        gate_defaults: Mapping[str, Fallback] | None = None,
        gate_default: Fallback = "hold",
        gate_timeout: float = 2.0,
    ) -> None:
        if default_mode not in MODES:
            raise ValueError(f"default_mode must be one of {', '.join(MODES)}")
        if poll_interval <= 0 or timeout <= 0:
            raise ValueError("poll_interval and timeout must be positive")
        self.url = url.rstrip("/")
        self.default_mode: Mode = default_mode
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.cache_dir = self._cache_dir(cache_dir)
        if client_id is not None and not _store.valid_client_id(client_id):
            raise ValueError("client_id: 1 to 64 of A-Z a-z 0-9 _ . : -")
        if client_id is None and self.cache_dir is not None:
            client_id = _store.client_id(self.cache_dir)
        self.client_id: str = client_id or uuid.uuid4().hex
        # The read path: plain dicts, written only by the watch threads and `watch()`.
        self._modes: dict[str, Mode] = {}
        self._revisions: dict[str, int] = {}
        self._watches: dict[str, _Watch] = {}
        # Bundles asked for with bundle(): refreshed when the stream announces a change.
        self._bundles: dict[str, dict[str, Any]] = {}
        self._bundle_etags: dict[str, str] = {}
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._acks = threading.Condition()
        self._ack_due: dict[str, int] = {}
        self._ack_retry: dict[str, tuple[float, int]] = {}
        self._ack_thread: threading.Thread | None = None
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": _user_agent()},
            timeout=self.timeout,
            transport=transport,
        )
        self.system = system
        self._recorder = Recorder(
            self._http,
            backoff=self._backoff,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_buffer=max_buffer,
            spill=Spill(spill_path, spill_max_bytes) if spill_path is not None else None,
        )
        self._gate = Gate(
            self._http,
            defaults=dict(gate_defaults or {}),
            fallback=gate_default,
            timeout=float(gate_timeout),
        )

    @staticmethod
    def _cache_dir(cache_dir: str | Path | None) -> Path | None:
        if cache_dir is None:
            return None
        path = Path(cache_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            logger.warning("Cannot use %s as the cache directory", path, exc_info=True)
            return None
        return path

    # The public interface.

    def mode(self, slug: str) -> Mode:
        """The mode `slug` is in now: "ai", "degraded", "human" or "off". A dictionary
        read: no I/O, no lock, never raises. The first call for a system starts watching it
        and answers its saved mode, or `default_mode`."""
        try:
            return self._modes[slug]
        except Exception:  # noqa: BLE001 - a KeyError, or a slug that cannot be a key
            return self._first_read(slug)

    def revision(self, slug: str) -> int | None:
        """The revision of the mode `mode(slug)` answers; None if never known."""
        try:
            return self._revisions.get(slug)
        except Exception:  # noqa: BLE001 - a slug that cannot be a key
            return None

    def watch(self, slug: str, *, wait: bool = False) -> Mode:
        """Start watching `slug` (if not already) and answer its mode. With `wait=True`,
        first wait up to `timeout` seconds for the server's answer: call it so at start-up,
        so a fresh process without a cache does not act on `default_mode` for the first
        few milliseconds while the mode is, say, "off"."""
        watch = self._watch(slug)
        if wait and not watch.synced.wait(self.timeout):
            logger.warning(
                "No answer about %s from %s within %.1f s; serving %s",
                slug,
                self.url,
                self.timeout,
                self._modes[slug],
            )
        return self._modes[slug]

    def bundle(self, slug: str) -> dict[str, Any] | None:
        """The active version of each surface of `slug` (model, prompt, retrieval,
        config), with content, as the server last said (token scope `bundle:read`). The
        first call fetches it and starts watching the system; after that it is a dict read,
        refreshed when the stream announces a deployment (and at each poll while the
        stream is down). None while it has never been fetched."""
        if slug not in self._bundles:
            self._fetch_bundle(slug)
            self._watch(slug)
        return self._bundles.get(slug)

    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """Call `callback(slug, mode, revision)`, from a background thread, each time the
        mode of a watched system changes. Not for a revision that leaves the mode as it was
        (a drill), nor for the saved mode loaded at start. An exception in a callback is
        logged and changes nothing else. Returns the callback, so it works as a decorator."""
        self._callbacks.append(callback)
        return callback

    def record(self, event: dict[str, Any], *, system: str | None = None) -> str:
        """Report one inference of `system` (default: the client's `system`) and answer its
        id. `event` is as the events API takes it (`input`, `output`, `refused`,
        `versions`, `actions`, `subject`, and for a generative-AI call `scores`, `error`,
        `finish_reason`, `usage`, `provider`), sent as given; `id` (a random hex string)
        and `ts` (now, UTC) are filled in when missing. Appends to a buffer and returns
        within microseconds: the sending happens on a background thread, and network
        trouble never raises here.
        Raises ValueError only when `event` is not a dict or no system is named."""
        return self._recorder.record(event, system if system is not None else self.system)

    def gate(
        self,
        action: str,
        subject: str,
        event_id: str | None = None,
        system: str | None = None,
    ) -> GateDecision:
        """Ask Failsafe before `action` on `subject` (token scope `gate`): a `GateDecision`
        whose `decision` is "allow", "hold" (a person decides: poll `hold_id` with
        `wait_for_hold()`) or "deny". Blocks for one HTTP call, at most `gate_timeout`
        seconds. When Failsafe cannot answer, the action's declared default answers
        instead, with `local=True`: "hold" (fail closed: do not act; keep it yourself and
        ask again later) or "allow" (fail open). Never raises for network trouble."""
        name = self._system_for(system)
        return self._gate.ask(name, action, subject, event_id)

    def gate_defaults(self, system: str | None = None, *, refresh: bool = False) -> dict[str, str]:
        """Each action type's declared answer when Failsafe is unreachable, as this client
        would apply it now (fetched from the server, overridden by `gate_defaults`)."""
        name = self._system_for(system)
        self._gate.refresh(name, force=refresh)
        return self._gate.defaults(name)

    def hold(self, hold_id: str, system: str | None = None) -> dict[str, Any] | None:
        """A hold as the server has it now (`status`: "pending", "approved", "rejected"),
        or None when it cannot be read."""
        return self._gate.hold(self._system_for(system), hold_id)

    def wait_for_hold(
        self,
        hold_id: str,
        system: str | None = None,
        *,
        timeout: float = 60.0,
        interval: float = 2.0,
    ) -> str | None:
        """Poll a hold until a person decides it (or it expires to its declared outcome):
        "approve" or "reject"; None when `timeout` seconds pass first (ask again later)."""
        return self._gate.wait(
            self._system_for(system), hold_id, timeout=timeout, interval=interval, stop=self._stop
        )

    def _system_for(self, system: str | None) -> str:
        name = system if system is not None else self.system
        if not isinstance(name, str) or not name:
            raise ValueError("name the system: Failsafe(..., system=slug) or system=slug")
        return name

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the events recorded so far are sent (or refused by the server, see
        `record_stats()`): True, or False when `timeout` seconds pass first."""
        return self._recorder.flush(timeout)

    def record_stats(self) -> dict[str, int]:
        """Counts since the client started: `sent` (events the server has, including
        `duplicates`: ids it already had), `dropped` (the buffer was full, or the client
        closed before sending them), `rejected` (refused by the server: invalid events, or
        a token problem), `buffered` (waiting now), `retries` (requests sent again); with
        a spill, `spilled` (waiting on disk now) and `spill_dropped` (of `dropped`, the
        oldest dropped by `spill_max_bytes`)."""
        return self._recorder.stats()

    def close(self) -> None:
        """Send the recorded events still waiting (for up to `timeout` seconds), stop the
        background threads and close the connections. `mode()` keeps answering the last
        known modes."""
        self._recorder.close(self.timeout)
        self._stop.set()
        with self._acks:
            self._acks.notify_all()
        with self._lock:
            watches = list(self._watches.values())
        for watch in watches:
            watch.interrupt()
        threads = [w.thread for w in watches] + [self._ack_thread]
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=self.timeout + 1)
        self._http.close()

    def __enter__(self) -> Failsafe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Starting to watch.

    def _first_read(self, slug: str) -> Mode:
        try:
            self._watch(slug)
            return self._modes[slug]
        except Exception:
            logger.exception("Cannot watch the mode of %r; answering %s", slug, self.default_mode)
            return self.default_mode

    def _watch(self, slug: str) -> _Watch:
        if not isinstance(slug, str) or not slug:
            raise ValueError(f"a system slug is a non-empty string, not {slug!r}")
        with self._lock:
            watch = self._watches.get(slug)
            if watch is not None:
                return watch
            watch = _Watch(slug)
            saved = _store.load(self.cache_dir, slug) if self.cache_dir is not None else None
            if saved is not None:
                self._revisions[slug] = saved.revision
                logger.info(
                    "%s: %s (revision %d) from %s", slug, saved.mode, saved.revision, self.cache_dir
                )
            # Published last: from here on, mode() answers from the dict.
            self._modes[slug] = cast(Mode, saved.mode) if saved is not None else self.default_mode
            self._watches[slug] = watch
            if not self._stop.is_set():
                watch.thread = threading.Thread(
                    target=self._run, args=(watch,), name=f"failsafe-{slug}", daemon=True
                )
                watch.thread.start()
                if self._ack_thread is None:
                    self._ack_thread = threading.Thread(
                        target=self._ack_loop, name="failsafe-ack", daemon=True
                    )
                    self._ack_thread.start()
            return watch

    # Applying what the server says.

    def _apply(self, watch: _Watch, payload: object) -> None:
        slug = watch.slug
        if not isinstance(payload, Mapping):
            logger.warning("%s: ignoring a mode that is not an object: %r", slug, payload)
            return
        mode, revision = payload.get("mode"), payload.get("revision")
        if mode not in MODES or type(revision) is not int:
            logger.warning("%s: ignoring mode %r at revision %r", slug, mode, revision)
            return
        mode = cast(Mode, mode)
        current = self._revisions.get(slug)
        previous = self._modes.get(slug, self.default_mode)
        if revision == current and mode == previous:
            # Already acting on it (from the cache directory, or a poll that crossed the
            # stream): say so once, so the server counts this client on it.
            if watch.acked != revision:
                self._ack(watch, revision)
            watch.synced.set()
            return
        if current is not None and revision < current:
            logger.warning(
                "%s: the server went back from revision %d to %d", slug, current, revision
            )
        self._modes[slug] = mode
        self._revisions[slug] = revision
        watch.synced.set()
        self._ack(watch, revision)
        if self.cache_dir is not None:
            _store.save(self.cache_dir, slug, mode, revision)
        if mode == previous:
            drill = " (drill)" if payload.get("drill") is True else ""
            logger.info("%s: revision %d%s, still %s", slug, revision, drill, mode)
            return
        logger.info("%s: %s -> %s (revision %d)", slug, previous, mode, revision)
        for callback in list(self._callbacks):
            try:
                callback(slug, mode, revision)
            except Exception:
                logger.exception("%s: the on_change callback %r failed", slug, callback)

    # The watch thread: the stream, reconnection, polling.

    def _run(self, watch: _Watch) -> None:
        attempt = 0
        last_poll: float | None = None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._stream(watch)
                if not self._stop.is_set():
                    self._trouble(watch, "the mode stream ended")
            except (httpx.HTTPError, OSError, _Refused) as exc:
                if not self._stop.is_set():
                    self._trouble(watch, f"the mode stream failed: {exc!r}")
            except Exception:
                if not self._stop.is_set():
                    logger.exception("%s: unexpected error in the mode stream", watch.slug)
            if self._stop.is_set():
                return
            connected, watch.up = watch.up, False
            if time.monotonic() - started >= STREAM_STABLE:
                attempt = 0
            # Poll at once when the stream drops (or never came up), then every
            # poll_interval while it stays down, reconnection attempts in between.
            if connected or last_poll is None:
                self._poll(watch)
                last_poll = time.monotonic()
            deadline = time.monotonic() + self._backoff(attempt, watch.retry_floor)
            attempt += 1
            while not self._stop.is_set():
                now = time.monotonic()
                if now - last_poll >= self.poll_interval:
                    self._poll(watch)
                    last_poll = now = time.monotonic()
                if now >= deadline:
                    break
                self._stop.wait(min(deadline, last_poll + self.poll_interval) - now)

    @staticmethod
    def _backoff(attempt: int, floor: float = 0.0) -> float:
        ceiling: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(attempt, 16))
        # Jitter spreads reconnections; it is not a secret.
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311
        return max(delay, min(floor, BACKOFF_CAP))

    def _stream(self, watch: _Watch) -> None:
        """Read the stream until it ends (or fails, or `close()`)."""
        params = {"client": self.client_id}
        revision = self._revisions.get(watch.slug)
        if revision is not None:
            params["revision"] = str(revision)
        headers = {
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
            # A compressing proxy or middleware may hold events back to fill a block.
            "Accept-Encoding": "identity",
        }
        timeout = httpx.Timeout(self.timeout, read=STREAM_SILENCE)
        with self._http.stream(
            "GET", f"{watch.path}/stream", params=params, headers=headers, timeout=timeout
        ) as response:
            if response.status_code != 200:
                response.read()
                raise _Refused(self._refusal(response))
            content_type = response.headers.get("content-type", "")
            if not content_type.startswith("text/event-stream"):
                raise _Refused(f"not an event stream: {content_type!r}")
            with watch.lock:
                watch.response = response
            watch.up = True
            try:
                if self._stop.is_set():
                    return
                self._recovered(watch, "stream")
                decoder = SSEDecoder()
                for text in response.iter_text():
                    for event in decoder.feed(text):
                        self._event(watch, event)
                    if decoder.retry_ms is not None:  # the server's reconnection delay
                        watch.retry_floor = decoder.retry_ms / 1000
                    if self._stop.is_set():
                        break
            finally:
                with watch.lock:
                    watch.response = None

    def _event(self, watch: _Watch, event: ServerEvent) -> None:
        if event.event == "mode":
            try:
                payload = json.loads(event.data)
            except ValueError:
                logger.warning("%s: ignoring a mode event that is not JSON: %r", watch.slug, event)
                return
            self._apply(watch, payload)
        elif event.event == "bundle":
            if watch.slug in self._bundles:
                self._fetch_bundle(watch.slug)
        elif event.event != "heartbeat":
            logger.debug("%s: ignoring a %r event", watch.slug, event.event)

    def _poll(self, watch: _Watch) -> None:
        headers = {"If-None-Match": watch.etag} if watch.etag else {}
        try:
            response = self._http.get(watch.path, headers=headers)
        except httpx.HTTPError as exc:
            self._trouble(watch, f"cannot read the mode: {exc!r}")
            return
        if response.status_code == 304:
            watch.synced.set()
            self._recovered(watch, "polling")
            return
        if response.status_code != 200:
            self._trouble(watch, f"cannot read the mode: {self._refusal(response)}")
            # The server answered, if only to refuse: `watch(wait=True)` need wait no more.
            watch.synced.set()
            return
        try:
            payload = response.json()
        except ValueError:
            self._trouble(watch, "the mode answer is not JSON")
            return
        self._recovered(watch, "polling")
        watch.etag = response.headers.get("ETag")
        self._apply(watch, payload)
        if watch.slug in self._bundles:
            self._fetch_bundle(watch.slug)

    def _fetch_bundle(self, slug: str) -> None:
        etag = self._bundle_etags.get(slug)
        headers = {"If-None-Match": etag} if etag else {}
        path = f"/api/v1/systems/{quote(slug, safe='')}/bundle"
        try:
            response = self._http.get(path, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("%s: cannot read the bundle: %r", slug, exc)
            return
        if response.status_code == 304:
            return
        if response.status_code != 200:
            logger.warning("%s: cannot read the bundle: %s", slug, self._refusal(response))
            return
        try:
            bundle = response.json()
        except ValueError:
            logger.warning("%s: the bundle answer is not JSON", slug)
            return
        self._bundles[slug] = bundle
        self._bundle_etags[slug] = response.headers.get("ETag", "")

    @staticmethod
    def _refusal(response: httpx.Response) -> str:
        """'401 Invalid token.' from the API's error shape, or the status alone."""
        try:
            messages = [e["message"] for e in response.json()["errors"]]
        except (ValueError, LookupError, TypeError):
            messages = []
        return " ".join([str(response.status_code), *map(str, messages)])

    def _trouble(self, watch: _Watch, problem: str) -> None:
        """Log a problem once as a warning while it lasts, then quietly."""
        kind = problem.split(":", 1)[0]
        level = logging.DEBUG if kind in watch.trouble else logging.WARNING
        watch.trouble.add(kind)
        logger.log(level, "%s: %s; serving %s", watch.slug, problem, self._modes[watch.slug])

    def _recovered(self, watch: _Watch, how: str) -> None:
        if watch.trouble:
            logger.info("%s: reached %s again (%s)", watch.slug, self.url, how)
            watch.trouble.clear()

    # Acknowledgements.

    def _ack(self, watch: _Watch, revision: int) -> None:
        watch.acked = revision
        with self._acks:
            self._ack_due[watch.slug] = revision
            self._ack_retry.pop(watch.slug, None)
            self._acks.notify()

    def _ack_loop(self) -> None:
        next_heartbeat = time.monotonic() + ACK_HEARTBEAT
        while not self._stop.is_set():
            try:
                with self._acks:
                    now = time.monotonic()
                    due = {
                        slug: revision
                        for slug, revision in self._ack_due.items()
                        if self._ack_retry.get(slug, (0.0, 0))[0] <= now
                    }
                    if not due and now < next_heartbeat:
                        wake = min([next_heartbeat, *(t for t, _ in self._ack_retry.values())])
                        self._acks.wait(max(0.0, wake - now))
                        continue
                    for slug in due:
                        del self._ack_due[slug]
                if now >= next_heartbeat:
                    next_heartbeat = now + ACK_HEARTBEAT
                    # dict.copy() is atomic under the GIL; a watch thread may add a slug.
                    for slug, revision in self._revisions.copy().items():
                        due.setdefault(slug, revision)
                for slug, revision in due.items():
                    if self._stop.is_set():
                        return
                    self._send_ack(slug, revision)
            except Exception:
                logger.exception("Unexpected error acknowledging the mode")
                self._stop.wait(1.0)

    def _send_ack(self, slug: str, revision: int) -> None:
        path = f"/api/v1/systems/{quote(slug, safe='')}/mode/ack"
        try:
            response = self._http.post(path, json={"client": self.client_id, "revision": revision})
        except httpx.HTTPError as exc:
            failure = f"{exc!r}"
        else:
            if response.status_code < 500:
                if response.status_code >= 400:
                    # Refused (token, scope, an unknown system): retrying will not help;
                    # the next heartbeat tries again.
                    logger.warning("%s: acknowledgement refused: %s", slug, self._refusal(response))
                with self._acks:
                    self._ack_retry.pop(slug, None)
                return
            failure = self._refusal(response)
        with self._acks:
            # Retry soon, backing off; unless a newer revision was queued meanwhile.
            _, failures = self._ack_retry.get(slug, (0.0, 0))
            self._ack_due.setdefault(slug, revision)
            self._ack_retry[slug] = (time.monotonic() + self._backoff(failures), failures + 1)
        logger.debug("%s: acknowledging revision %d failed: %s", slug, revision, failure)

    def __repr__(self) -> str:
        return f"<Failsafe {self.url} client {self.client_id}>"
