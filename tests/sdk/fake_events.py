"""A stand-in for the server's events API, as an httpx transport, for the unit tests of
`record()`.

It keeps what it stored by (system, id) and ignores an id it already has, as the real one
does, so a test can check that every event arrived exactly once. A test scripts trouble with
`script`: each request takes the next step, if any, before being handled.
"""

import json
import threading

import httpx

TOKEN = "fsk_test"

# Steps for `FakeEventsServer.script`.
CONNECT_ERROR = "connect-error"  # the request never reaches the server
LOSE_REPLY = "lose-reply"  # the server stores the batch, the reply is lost on the way back
HANG = "hang"  # the server never answers (until `release()`)


class FakeEventsServer:
    def __init__(self, max_events: int = 5000):
        self.max_events = max_events  # larger batches: 413
        self.stored: dict[tuple[str, str], dict] = {}
        self.received = 0  # events in requests that reached the handler, resends included
        self.batches: list[tuple[str, int]] = []  # (system, size) of each request
        self.script: list = []  # steps: a status code, CONNECT_ERROR, LOSE_REPLY or HANG
        self.released = threading.Event()
        self.hanging = 0  # requests held by HANG now
        self.lock = threading.Lock()
        self.transport = httpx.MockTransport(self.handle)

    def stored_ids(self, system: str) -> list[str]:
        with self.lock:
            return [event_id for (slug, event_id) in self.stored if slug == system]

    def release(self):
        """Let the hanging requests go (answered with 503)."""
        self.released.set()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            step = self.script.pop(0) if self.script else None
        if step == HANG:
            with self.lock:
                self.hanging += 1
            self.released.wait()
            with self.lock:
                self.hanging -= 1
            return _error(503, "Unavailable.")
        if step == CONNECT_ERROR:
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(step, int):
            return _error(step, "Scripted.")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(401, "Invalid token.")
        parts = request.url.path.split("/")  # /api/v1/systems/{slug}/events
        if request.method != "POST" or len(parts) != 6 or parts[5] != "events":
            return _error(404, "Not found.")
        system = parts[4]
        events = json.loads(request.content)["events"]
        with self.lock:
            self.batches.append((system, len(events)))
            self.received += len(events)
        if len(events) > self.max_events:
            return _error(413, f"At most {self.max_events} events per request.")
        errors = [
            {"index": i, "field": "output.label", "message": "Must be a string."}
            for i, event in enumerate(events)
            if not isinstance(event.get("output", {}).get("label", ""), str)
        ]
        if errors:
            return httpx.Response(400, json={"errors": errors})
        accepted = duplicates = 0
        with self.lock:
            for event in events:
                key = (system, event["id"])
                if key in self.stored:
                    duplicates += 1
                else:
                    self.stored[key] = event
                    accepted += 1
        if step == LOSE_REPLY:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(202, json={"accepted": accepted, "duplicates": duplicates})


def _error(status, message):
    return httpx.Response(status, json={"errors": [{"field": None, "message": message}]})
