"""A stand-in for the server's mode API, as an httpx transport, for the client's unit tests.

It speaks the contract (GET mode with ETag / 304, the event stream, acknowledgements) from
a few attributes a test sets; the integration tests run the same client against the real
server.
"""

import json
import queue
import socket
import threading
import time

import httpx

DROP = object()


class FakeModeServer:
    def __init__(self, slug="refunds", mode="ai", revision=1):
        self.slug = slug
        self.state = {"system": slug, "mode": mode, "revision": revision, "drill": False}
        self.stream_status = 200  # anything else: the stream is refused, polling must cover
        self.poll_status = 200
        self.requests: list[httpx.Request] = []
        self.acks: list[dict] = []
        self.acked = threading.Condition()
        self._events: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        self.transport = httpx.MockTransport(self.handle)

    # What a test does to the "server".

    def change(self, mode, *, drill=False):
        self.state = {**self.state, "mode": mode, "revision": self.revision + 1, "drill": drill}
        self._events.put(self.state)

    def drop_streams(self):
        self._events.put(DROP)

    @property
    def revision(self):
        return self.state["revision"]

    def requests_to(self, suffix, method="GET"):
        return [r for r in self.requests if r.method == method and r.url.path.endswith(suffix)]

    def wait_for_ack(self, revision, timeout=5.0):
        with self.acked:
            self.acked.wait_for(lambda: any(a["revision"] == revision for a in self.acks), timeout)
        return [a for a in self.acks if a["revision"] == revision]

    # The transport.

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        base = f"/api/v1/systems/{self.slug}/mode"
        path = request.url.path
        if request.headers.get("Authorization") != "Bearer fsk_test":
            return _error(401, "Invalid token.")
        if path == base and request.method == "GET":
            return self._get(request)
        if path == f"{base}/stream":
            return self._stream()
        if path == f"{base}/ack" and request.method == "POST":
            with self.acked:
                self.acks.append(json.loads(request.content))
                self.acked.notify_all()
            return httpx.Response(204)
        return _error(404, "Not found.")

    def _get(self, request):
        if self.poll_status != 200:
            return _error(self.poll_status, "Unavailable.")
        etag = f'"{self.revision}"'
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, json=self.state, headers={"ETag": etag})

    def _stream(self):
        if self.stream_status != 200:
            return _error(self.stream_status, "Unavailable.")
        return httpx.Response(
            200,
            headers={"Content-Type": "text/event-stream"},
            content=self._events_from(self.state),
        )

    def _events_from(self, state):
        yield _mode_event(state)
        while not self.closed.is_set():
            try:
                item = self._events.get(timeout=0.02)
            except queue.Empty:
                # A comment keeps the client's loop turning, as bytes on a socket would.
                yield b":\n"
                continue
            if item is DROP:
                return
            yield _mode_event(item)


def _mode_event(state):
    return f"event: mode\nid: {state['revision']}\ndata: {json.dumps(state)}\n\n".encode()


def _error(status, message):
    return httpx.Response(status, json={"errors": [{"field": None, "message": message}]})


def wait_until(predicate, timeout=5.0):
    """Poll `predicate` until it is true or `timeout` passes; answer its last value."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return result


class StallingServer:
    """A real socket that answers the stream with one event and then falls silent, as a
    connection does when a proxy or the network drops it without closing it."""

    def __init__(self, slug="refunds", mode="off", revision=5):
        self.payload = json.dumps({"system": slug, "mode": mode, "revision": revision})
        self.streams = 0
        self.released = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.released.set()
        self._listener.close()

    def _accept(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ", 2)[1]
            if b"/stream" in path:
                self.streams += 1
                event = f"event: mode\ndata: {self.payload}\n\n".encode()
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                    + f"{len(event):x}\r\n".encode()
                    + event
                    + b"\r\n"
                )
                self.released.wait()  # and never another byte
            else:
                body = self.payload.encode() if path.endswith(b"/mode") else b""
                status = b"200 OK" if body else b"204 No Content"
                connection.sendall(
                    b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
