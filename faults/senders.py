"""SDK senders: real `failsafe_client.Failsafe` clients, each recording its share of the
events at a steady pace from a thread of its own, as replicas of one service would."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from failsafe_client import Failsafe

LABELS = ("approve", "deny", "review")


@dataclass
class Run:
    """What the senders did: ids recorded, the SDK's counts, and the progress of `sent`
    over time (to time an outage and the recovery from it)."""

    recorded: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    stats: list[dict[str, int]] = field(default_factory=list)
    progress: list[tuple[float, int]] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    def total(self, key: str) -> int:
        return sum(s[key] for s in self.stats)


def send(
    url: str,
    token: str,
    system: str,
    *,
    tag: str,
    senders: int = 4,
    events: int = 100_000,
    rate: float = 5_000.0,
    max_buffer: int = 10_000,
    during=None,
    flush_timeout: float = 180.0,
    spill_folder: Path | None = None,
) -> Run:
    """`senders` clients record `events` in all at `rate` events/s in all; `during(run)` runs
    in this thread meanwhile (the fault). Each client then flushes and closes. With
    `spill_folder`, each client spills to a directory of its own in it."""
    run = Run()
    per = events // senders
    clients = [
        Failsafe(
            url, token, system=system, max_buffer=max_buffer, timeout=5.0,
            spill_path=spill_folder / f"sender-{n}" if spill_folder is not None else None,
        )
        for n in range(senders)
    ]  # fmt: skip
    ids: list[list[str]] = [[] for _ in range(senders)]
    counts: list[dict[str, int]] = [{} for _ in range(senders)]
    stop = threading.Event()

    def record(n: int) -> None:
        rng = random.Random(n)  # fixed labels per sender: the recount is checked against them
        client, mine, count = clients[n], ids[n], counts[n]
        started = time.monotonic()
        for i in range(per):
            # Paced: event i goes out at its time, as traffic would.
            ahead = started + i * senders / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            label = rng.choice(LABELS)
            event_id = f"{tag}-{n}-{i}"
            client.record({"id": event_id, "output": {"label": label}})
            mine.append(event_id)
            count[label] = count.get(label, 0) + 1

    def watch() -> None:
        while not stop.is_set():
            run.progress.append((time.monotonic(), sum(c.record_stats()["sent"] for c in clients)))
            stop.wait(0.05)

    threads = [threading.Thread(target=record, args=(n,), daemon=True) for n in range(senders)]
    watcher = threading.Thread(target=watch, daemon=True)
    run.started = time.monotonic()
    watcher.start()
    for thread in threads:
        thread.start()
    if during is not None:
        during(run)
    for thread in threads:
        thread.join()
    for client in clients:
        client.flush(timeout=flush_timeout)
    run.finished = time.monotonic()
    stop.set()
    watcher.join()
    for client in clients:
        client.close()
        run.stats.append(client.record_stats())
    for mine, count in zip(ids, counts, strict=True):
        run.recorded.extend(mine)
        for label, n in count.items():
            run.labels[label] = run.labels.get(label, 0) + n
    return run


def first_progress_after(run: Run, moment: float) -> float | None:
    """When the senders' `sent` first grew after `moment` (a batch accepted)."""
    before = None
    for at, sent in run.progress:
        if at < moment:
            before = sent
            continue
        if before is None:
            before = sent
        elif sent > before:
            return at
    return None


def longest_stall(run: Run) -> float:
    """The longest time during the run in which no batch was accepted, while events were
    still waiting to go."""
    longest, last_at, last_sent = 0.0, None, None
    for at, sent in run.progress:
        if last_sent is None or sent != last_sent:
            last_at, last_sent = at, sent
        elif last_at is not None:
            longest = max(longest, at - last_at)
    return longest


def row(name: str, run: Run, counts: dict, lost: int, outages: list[tuple[float, float]]) -> dict:
    """The table row of a run: `outages` are (down, back) moments; the time to recover is
    from a service being back to the first batch accepted after it."""
    recover = []
    for _, back in outages:
        moment = first_progress_after(run, back)
        recover.append("never" if moment is None else f"{max(0.0, moment - back):.2f}")
    return {
        "scenario": name,
        "sent": len(run.recorded),
        "stored": counts["rows"],
        "duplicates": counts["rows"] - counts["distinct"],
        "lost": lost,
        "dropped": run.total("dropped"),
        "recover s": " / ".join(recover) or "-",
    }


def notes(run: Run, counts: dict) -> list[str]:
    return [
        f"run {run.finished - run.started:.1f} s; longest stall {longest_stall(run):.2f} s; "
        f"SDK retries {run.total('retries')}; ids resent that the server already had "
        f"{run.total('duplicates')}",
        f"rollups: events {counts['rollup_events']:,}, labels {counts['rollup_labels']}; "
        f"recount of the raw events {counts['recount']}",
    ]
