"""Running the same work in several real threads at once, each with its own database
connection, for the tests that claim due work twice."""

import threading

from django.db import connection


def at_once(work, workers: int = 2, timeout: float = 60) -> list:
    """What `work()` returned in each of `workers` threads started together."""
    start = threading.Barrier(workers)
    results: list = []

    def worker():
        try:
            start.wait()
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
