"""What ingestion counts for the monitors: per short time bucket, per served versions.

Pure: given checked events, it returns the increments; `services.events_ingest` adds them
to `Rollup` rows in the transaction that stores the events.
"""

import itertools
import math
import re
from bisect import bisect_right
from collections import Counter
from datetime import UTC, datetime, timedelta

from monitoring.contract import SURFACES

# Old cells are compacted (`services.compaction`): (width in seconds, from what age).
# What is older than a day is charted per minute at best, older than a week per hour.
COMPACTED = ((60, timedelta(days=1)), (3600, timedelta(days=7)))

LENGTH_EDGES = (0, 20, 50, 100, 200, 400, 800, 1600, 3200)
LENGTH_BINS = (
    *(f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(LENGTH_EDGES)),
    f"{LENGTH_EDGES[-1]}+",
)
SCORE_BINS = ("<0", *(f"{n / 10:.1f}" for n in range(10)), ">1")


def bucket_of(ts: datetime, width: int) -> datetime:
    epoch = ts.timestamp()
    return datetime.fromtimestamp(epoch - epoch % width, UTC)


def width_at(age: timedelta, ingested: int) -> int:
    """The widest cell that may hold a bucket this old: what a reader of that time can
    resolve (`ingested`: FAILSAFE_ROLLUP_SECONDS, the width of cells not yet compacted)."""
    width = ingested
    for compacted, older in COMPACTED:
        if age > older:
            width = max(width, compacted)
    return width


def length_bin(chars: int) -> str:
    return LENGTH_BINS[bisect_right(LENGTH_EDGES, chars) - 1]


def score_bin(score: float) -> str:
    if score < 0:
        return "<0"
    if score > 1:
        return ">1"
    return SCORE_BINS[1 + min(int(score * 10), 9)]


def evaluation_bin(value: float) -> str:
    """An evaluator's score: tenths where scores usually live (0 to 1), powers of two
    beyond (a 1-5 rating, a raw count)."""
    if 0 <= value <= 1:
        return SCORE_BINS[1 + min(int(value * 10), 9)]
    return number_bin(value)


def number_bin(value: float) -> str:
    """Powers of two either side of zero: input features come in every scale."""
    if not math.isfinite(value):
        return "nan"
    if abs(value) < 1:
        return "0"
    sign = "-" if value < 0 else ""
    return f"{sign}2^{int(math.log2(abs(value)))}"


def bin_order(signal: str, keys) -> list[str]:
    """The bins of a numeric signal from low to high (a KS test needs their order)."""
    if signal == "length":
        return [b for b in LENGTH_BINS if b in keys]
    if signal == "score":
        return [b for b in SCORE_BINS if b in keys]

    return sorted(keys, key=bin_value)


def bin_value(key: str) -> float:
    """A bin's representative value: a tenth's middle, a power of two's middle."""
    if "." in key:
        return float(key) + 0.05
    if key in ("0", "nan"):
        return 0.0
    sign = -1 if key.startswith("-") else 1
    return sign * 1.5 * 2.0 ** int(key.lstrip("-")[2:])


def served_key(served: dict, refs: dict) -> str:
    """`model:4|prompt:13`: the registry's numbers, or `?` and the event's own reference
    where the registry knows no such version (`prompt:?v99`)."""
    return "|".join(
        f"{surface}:{'?' + str(refs[surface])[:30] if served[surface] is None else served[surface]}"
        for surface in SURFACES
        if surface in served
    )


def served_split(key: str) -> dict[str, str]:
    return dict(part.split(":", 1) for part in key.split("|") if part)


def count(
    events,
    served: list[dict],
    width: int,
    patterns: dict[int, re.Pattern] | None = None,
    inputs: dict[str, bool] | None = None,
    thresholds: dict[int, tuple[str, float, bool]] | None = None,
) -> Counter:
    """(bucket, signal, key, served) → events, for checked `events` and what served each.

    `patterns` maps a pattern monitor's id to its regex; `inputs` an input feature to
    whether it is numeric; `thresholds` a score-share monitor's id to (score, threshold,
    below). Only what a monitor watches is counted for those three."""
    totals: Counter = Counter()
    patterns = patterns or {}
    inputs = inputs or {}
    thresholds = thresholds or {}
    for event, versions in zip(events, served, strict=True):
        where = served_key(versions, event.versions)
        event_count(totals, bucket_of(event.ts, width), where, event, patterns, inputs, thresholds)
    return totals


def event_count(totals: Counter, bucket, where: str, event, patterns, inputs, thresholds) -> None:
    """One event's increments, added to `totals` (ingestion counts as it writes the rows)."""
    label, text, score = event.label, event.text, event.score
    totals[bucket, "events", "", where] += 1
    if label:
        totals[bucket, "label", label, where] += 1
    if event.refused:
        totals[bucket, "refused", "", where] += 1
    if text:
        totals[bucket, "length", length_bin(len(text)), where] += 1
    if score is not None:
        totals[bucket, "score", score_bin(score), where] += 1
    for action in event.actions:
        totals[bucket, "action", action.type, where] += 1
    _count_generation(totals, bucket, where, event, thresholds)
    for monitor_id, pattern in patterns.items():
        if text and pattern.search(text):
            totals[bucket, f"pattern:{monitor_id}", "", where] += 1
    for feature, numeric in inputs.items():
        if feature not in event.input:
            continue
        value = event.input[feature]
        if numeric:
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[bucket, f"input:{feature}", number_bin(float(value)), where] += 1
        else:
            totals[bucket, f"input:{feature}", str(value)[:100], where] += 1


def _count_generation(totals: Counter, bucket, where: str, event, thresholds) -> None:
    """What a generative-AI call adds: errors (any, and by type), finish reasons, token
    usage, and each evaluator's score."""
    if event.error:
        totals[bucket, "error", "", where] += 1
        totals[bucket, "error", event.error, where] += 1
    if event.finish_reason:
        totals[bucket, "finish", event.finish_reason, where] += 1
    for field in ("input_tokens", "output_tokens"):
        tokens = getattr(event, field)
        if tokens is not None:
            totals[bucket, f"usage.{field}", number_bin(float(tokens)), where] += 1
    scores_count(totals, bucket, where, event.scores, thresholds)


def scores_count(totals: Counter, bucket, where: str, scores: dict, thresholds) -> None:
    """Each evaluator's score, and for each score-share monitor the events carrying its
    score (`scored:<monitor>`, its share's denominator) and its hits (`score_share:<monitor>`):
    counted with their event, or on their own when a score comes late
    (`services.ingest.scores_add`). Both are counted only while the monitor watches, so its
    share never mixes events it saw with events from before it existed (or was changed)."""
    for name, score in scores.items():
        totals[bucket, f"scores.{name}", evaluation_bin(score), where] += 1
    for monitor_id, (name, threshold, below) in thresholds.items():
        score = scores.get(name)
        if score is None:
            continue
        totals[bucket, f"scored:{monitor_id}", "", where] += 1
        if score < threshold if below else score > threshold:
            totals[bucket, f"score_share:{monitor_id}", "", where] += 1
