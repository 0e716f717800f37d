"""How many OTLP requests this process is answering: over the limit, the next is told to
come back (429 with Retry-After, which stock exporters honour) rather than queue."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0

    @contextmanager
    def slot(self, limit: int) -> Iterator[bool]:
        """Yields whether the request may go on; its slot is given back at the end."""
        with self._lock:
            admitted = self.count < limit
            if admitted:
                self.count += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self.count -= 1


IN_FLIGHT = InFlight()
