"""A monitor's baseline: the counts of its window (`selectors.signals.baseline_window`),
refreshed hourly (every minute while it learns), never while it fires.

A refresh moves the counted window on rather than counting it again: what came in since
is added, the hours that left the window are taken off. Both are an hour or so of cells,
the old one compacted to 1-hour cells, so the hourly refresh costs the same however long
the history. The window starts on an hour, and compaction keeps every hour's sums, so the
moved counts equal a fresh count; a fresh count is still made daily (and whenever the
window is pinned, new, or not yet full of history), so that events arriving late for old
buckets (or for the bucket still filling when the window was counted) count too and
nothing drifts. A fresh count reads the window's whole hours from the hour sums
(`services.hour_sums`), so it too costs the same however fine or busy the cells.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from monitoring.models import Monitor
from monitoring.selectors.signals import (
    baseline_window,
    first_buckets,
    signal_counts,
    window_counts,
)

BASELINE_REFRESH = timedelta(hours=1)
LEARNING_REFRESH = timedelta(minutes=1)
COUNT_AGAIN = timedelta(days=1)


def baseline_due(monitor: Monitor, now) -> bool:
    if monitor.kind in Monitor.EXTERNAL_KINDS or monitor.status == Monitor.Status.FIRING:
        return False
    learning = monitor.status == Monitor.Status.LEARNING
    refresh = LEARNING_REFRESH if learning else BASELINE_REFRESH
    return monitor.baseline_at is None or now - monitor.baseline_at >= refresh


def baselines_refresh(monitors: list[Monitor], now: datetime) -> None:
    """Refresh the due baselines of monitors, of one system or of a batch of them. Those
    sharing a window read it together: every signal of every system they count, in one
    query, so a batch's first count is one aggregate in SQL, not a walk per monitor."""
    counted: dict = defaultdict(list)
    moved: dict = defaultdict(list)
    for monitor in monitors:
        if not baseline_due(monitor, now):
            continue
        since, until = baseline_window(monitor, now)
        old = _movable(monitor, since, until, now)
        if old is None:
            counted[since, until].append(monitor)
        else:
            moved[(*old, since, until)].append(monitor)
    for (since, until), due in counted.items():
        systems = {m.system_id for m in due}
        found = window_counts(systems, _signals(due), since, until)
        firsts = {}
        for signal in {m.denominator[0] for m in due}:
            with_it = {m.system_id for m in due if m.denominator[0] == signal}
            for system_id, first in first_buckets(with_it, signal, since).items():
                firsts[system_id, signal] = first
        for monitor in due:
            counts = _counts(monitor, found.get(monitor.system_id, {}))
            first = firsts[monitor.system_id, monitor.denominator[0]]
            # History fills the window when its first cell is near the window's start.
            whole = first is not None and first < since + BASELINE_REFRESH
            days = ((until - max(since, first)).total_seconds() / 86400) if first else 0.0
            monitor.baseline = _kept(counts, days, since, until, whole, now)
            monitor.baseline_at, monitor.detector = now, {}
    for (old_since, old_until, since, until), due in moved.items():
        systems, signals = {m.system_id for m in due}, _signals(due)
        came = signal_counts(systems, signals, old_until, until)
        left = signal_counts(systems, signals, old_since, since)
        for monitor in due:
            was = _counts(monitor, left.get(monitor.system_id, {}))
            counts = _counts(monitor, came.get(monitor.system_id, {}), monitor.baseline, was)
            days = (until - since).total_seconds() / 86400
            full_at = datetime.fromisoformat(monitor.baseline["counted_at"])
            monitor.baseline = _kept(counts, days, since, until, True, full_at)
            monitor.baseline_at, monitor.detector = now, {}


def _movable(monitor: Monitor, since, until, now) -> tuple[datetime, datetime] | None:
    """The window counted last, when it can be moved on to this one."""
    base = monitor.baseline
    if monitor.baseline_start or not base.get("whole") or "until" not in base:
        return None
    if now - datetime.fromisoformat(base["counted_at"]) >= COUNT_AGAIN:
        return None
    old_since, old_until = (datetime.fromisoformat(base[k]) for k in ("since", "until"))
    if not (old_since <= since < old_until <= until):
        return None
    return old_since, old_until


def _signals(monitors) -> set[str]:
    return {m.signal[0] for m in monitors} | {m.denominator[0] for m in monitors}


def _counts(monitor: Monitor, found: dict, plus: dict | None = None, minus=None) -> dict:
    """{"n", "counts"} of what the monitor counts in `found` ((signal, key) → events); with
    `plus` and `minus`, added to the one and taken from the other."""
    signal, key = monitor.signal
    n = found.get(monitor.denominator, 0)
    if monitor.is_rate:
        counts = {"x": found.get((signal, key), 0)}
    else:
        counts = {k: c for (s, k), c in found.items() if s == signal}
    if plus is None or minus is None:
        return {"n": n, "counts": counts}
    total = {}
    for k in set(plus["counts"]) | set(counts):
        c = plus["counts"].get(k, 0) + counts.get(k, 0) - minus["counts"].get(k, 0)
        if c > 0 or k == "x":
            total[k] = max(c, 0)
    return {"n": max(plus["n"] + n - minus["n"], 0), "counts": total}


def _kept(counts: dict, days: float, since, until, whole: bool, counted_at) -> dict:
    """What the monitor keeps: the counts, the days they span, the window, whether its
    history fills the window, when it was last counted whole."""
    window = {"since": since.isoformat(), "until": until.isoformat()}
    return {**counts, "days": days, **window, "whole": whole, "counted_at": counted_at.isoformat()}
