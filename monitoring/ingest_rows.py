"""A checked batch in one pass: the text of its COPY rows (in `services.ingest`'s
`EVENT_COLUMNS` order) and its rollup counts.

Pure: writing each row as COPY's text format here, rather than handing psycopg a tuple per
row, and counting the row as it is written, is what keeps ingestion near a raw COPY.
"""

from collections import Counter
from datetime import datetime

import msgspec

from monitoring import rollups

_encode = msgspec.json.encode


def copy_text(value: str) -> str:
    """A value in COPY's text format: backslash, tab, newline and carriage return escaped
    (any other character stands for itself)."""
    if "\\" in value or not value.isprintable():
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _json(value) -> str:
    return _encode(value).decode()


def _row(event, stamp: str, received: str, seen: tuple, null, tail: str) -> tuple:
    """An event's values in `EVENT_COLUMNS` order, `null` for SQL's NULL."""
    output, usage = event.output, event.usage
    return (
        event.client_id,
        stamp,
        received,
        _json(event.input) if event.input else "{}",
        output.label or "",
        null if output.score is None else repr(output.score),
        output.text or "",
        "t" if event.refused else "f",
        seen[1],
        seen[2],
        _json(event.actions) if event.actions else "[]",
        event.subject,
        _json(event.scores) if event.scores else "{}",
        event.error,
        event.finish_reason,
        null if usage is None or usage.input_tokens is None else str(usage.input_tokens),
        null if usage is None or usage.output_tokens is None else str(usage.output_tokens),
        event.provider,
        tail,
    )


def _nulls(event) -> int:
    usage = event.usage
    return (
        (event.output.score is None)
        + (usage is None or usage.input_tokens is None)
        + (usage is None or usage.output_tokens is None)
    )


def rows_and_counts(
    events,
    refs: dict,
    received_at: datetime,
    width: int,
    patterns,
    inputs,
    thresholds,
    retention_days: int,
    system_id: int,
) -> tuple[bytes, list[dict], Counter]:
    """(the COPY data, what served each event, the rollup counts of all of them).

    `refs` is `rollbacks.selectors.version_refs` of the system: each event's version
    references are resolved to the registry's numbers (None: unknown)."""
    totals: Counter = Counter()
    # Events of a batch are mostly served by the same few versions, in a few buckets.
    known: dict[tuple, tuple[dict, str, str, str]] = {}
    buckets: dict[float, datetime] = {}
    served_each: list[dict] = []
    lines: list[str] = []
    received = received_at.isoformat()
    # The last two columns are the same on every row: written as one value.
    tail = f"{int(retention_days)}\t{int(system_id)}"
    # RFC 3339 text of every time in one call: a twentieth of isoformat's cost each.
    stamps = _encode([event.ts for event in events]).decode()[2:-2].split('","')
    for event, stamp in zip(events, stamps, strict=True):
        versions = event.versions
        key = tuple(versions.items())
        seen = known.get(key)
        if seen is None:
            served = {surface: refs[surface].get(ref) for surface, ref in versions.items()}
            where = rollups.served_key(served, versions)
            seen = known[key] = (served, _json(versions), _json(served), where)
        served_each.append(seen[0])
        ts = event.ts
        slot = ts.timestamp() // width
        bucket = buckets.get(slot)
        if bucket is None:
            bucket = buckets[slot] = rollups.bucket_of(ts, width)
        rollups.event_count(totals, bucket, seen[3], event, patterns, inputs, thresholds)
        # Most rows hold nothing COPY must escape: joined as they are, and checked whole
        # (19 tabs, no newline or return, no backslash but those of the NULLs).
        line = "\t".join(_row(event, stamp, received, seen, "\\N", tail))
        if (
            line.count("\t") != 19
            or line.count("\\") != _nulls(event)
            or "\n" in line
            or "\r" in line
        ):
            values = _row(event, stamp, received, seen, None, tail)
            line = "\t".join("\\N" if v is None else copy_text(v) for v in values[:-1])
            line += "\t" + tail
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode(), served_each, totals
