"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1, in a thread."""

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: object  # http.client.HTTPMessage: header names are case-insensitive
    body: bytes

    def json(self):
        return json.loads(self.body)

    def header_dict(self) -> dict[str, str]:
        return dict(self.headers.items())  # type: ignore[attr-defined]


class Receiver:
    """Records every request; answers each POST with the next of `answers` (then 200).
    `hold()` makes it keep the next requests waiting until `release()`; `on_request` is
    called (in the server's thread) as each request arrives."""

    def __init__(self):
        self.requests: list[Received] = []
        self.answers: list[int] = []
        self.arrived = threading.Event()
        self.on_request: Callable[[Received], None] | None = None
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()
        self.url = ""

    def hold(self):
        self._gate.clear()

    def release(self):
        self._gate.set()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        received = Received(
            handler.command, handler.path, handler.headers, handler.rfile.read(length)
        )
        if self.on_request is not None:
            self.on_request(received)
        with self._lock:
            self.requests.append(received)
            status = self.answers.pop(0) if self.answers else 200
        self.arrived.set()
        self._gate.wait(timeout=10)
        handler.send_response(status)
        if 300 <= status < 400:
            handler.send_header("Location", "/moved")
        handler.send_header("Content-Length", "0")
        handler.end_headers()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.server.receiver.answer(self)  # type: ignore[attr-defined]

    def do_GET(self):  # only a followed redirect would GET
        self.server.receiver.answer(self)  # type: ignore[attr-defined]

    def log_message(self, *args):
        pass


@contextmanager
def receiving() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    receiver = Receiver()
    receiver.url = f"http://127.0.0.1:{server.server_port}/failsafe"
    server.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A port on which nothing listens (it was free a moment ago, and nothing took it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
