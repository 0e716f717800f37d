"""The cost of `Failsafe.mode(slug)` in the SDK, against a plain dict lookup.

Issue 4's figure: `mode(slug)` ≤ 5 µs per call. The client is watching a system whose
server is unreachable (a closed port on 127.0.0.1), so the read path is exactly what runs
in production between changes: a dict read in a method, with the background thread idle in
its backoff. No Django, no database.

    .venv/bin/python bench/sdk_mode_read.py [--calls 1000000] [--repeat 5]
"""

import argparse
import logging
import socket
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk" / "src"))

from failsafe_client import Failsafe, _store

SLUG = "refund-classifier"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def per_call_ns(statement: str, names: dict, calls: int, repeat: int) -> float:
    """Best of `repeat` runs of `calls` executions, in nanoseconds per execution."""
    timings = timeit.repeat(statement, globals=names, number=calls, repeat=repeat)
    return min(timings) / calls * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("failsafe_client").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as cache_dir:
        _store.save(Path(cache_dir), SLUG, "degraded", 3)
        with Failsafe(
            f"http://127.0.0.1:{closed_port()}", "fsk_bench", cache_dir=cache_dir, timeout=0.5
        ) as failsafe:
            if failsafe.mode(SLUG) != "degraded":  # starts watching; answers the saved mode
                sys.exit("The client did not load the saved mode.")
            baseline = {SLUG: "degraded"}
            mode = failsafe.mode

            names = {"baseline": baseline, "mode": mode, "slug": SLUG}
            dict_ns = per_call_ns("baseline[slug]", names, args.calls, args.repeat)
            mode_ns = per_call_ns("mode(slug)", names, args.calls, args.repeat)

    print(f"calls: {args.calls:,} x best of {args.repeat}, Python {sys.version.split()[0]}")
    print(f"dict lookup (baseline):  {dict_ns:7.1f} ns per call")
    print(f"Failsafe.mode(slug):     {mode_ns:7.1f} ns per call  ({mode_ns / 1000:.3f} µs)")
    print(f"ratio mode / dict:       {mode_ns / dict_ns:7.2f}x")
    print(f"target ≤ 5 µs per call:  {'met' if mode_ns <= 5000 else 'NOT met'}")


if __name__ == "__main__":
    main()
