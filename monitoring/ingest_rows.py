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


def copy_json(value) -> str:
    """JSON as a COPY value: JSON escapes its own control characters, so only its
    backslashes need doubling."""
    text = _encode(value).decode()
    return text.replace("\\", "\\\\") if "\\" in text else text


def _tokens(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def rows_and_counts(
    events, refs: dict, received_at: datetime, width: int, patterns, inputs, thresholds
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
    for event in events:
        versions = event.versions
        key = tuple(versions.items())
        seen = known.get(key)
        if seen is None:
            served = {surface: refs[surface].get(ref) for surface, ref in versions.items()}
            where = rollups.served_key(served, versions)
            seen = known[key] = (served, copy_json(versions), copy_json(served), where)
        served_each.append(seen[0])
        ts = event.ts
        slot = ts.timestamp() // width
        bucket = buckets.get(slot)
        if bucket is None:
            bucket = buckets[slot] = rollups.bucket_of(ts, width)
        rollups.event_count(totals, bucket, seen[3], event, patterns, inputs, thresholds)
        output = event.output
        usage = event.usage
        lines.append(
            "\t".join(
                (
                    copy_text(event.client_id),
                    ts.isoformat(),
                    received,
                    copy_json(event.input) if event.input else "{}",
                    copy_text(output.label) if output.label else "",
                    "\\N" if output.score is None else repr(output.score),
                    copy_text(output.text) if output.text else "",
                    "t" if event.refused else "f",
                    seen[1],
                    seen[2],
                    copy_json(event.actions) if event.actions else "[]",
                    copy_text(event.subject),
                    copy_json(event.scores) if event.scores else "{}",
                    copy_text(event.error),
                    copy_text(event.finish_reason),
                    "\\N" if usage is None else _tokens(usage.input_tokens),
                    "\\N" if usage is None else _tokens(usage.output_tokens),
                    copy_text(event.provider),
                )
            )
        )
    lines.append("")
    return "\n".join(lines).encode(), served_each, totals
