"""Checking a batch of events against the contract (docs/INTERFACE.md, "Events"), fast.

A batch may hold 5,000 events. The event API's body is decoded by msgspec straight into
the typed structs of `event_schema` (every type and limit checked in C), then one pass
settles what the structs cannot state. Dicts (the OpenTelemetry receiver's, in-process
callers') are converted into the same structs, so both ways share one set of rules. Only
a refused batch is decoded again as plain values, so that `event_problems` can name every
problem with its index and field; a batch with any problem is refused whole.
"""

import json
from datetime import UTC, datetime

import msgspec

from core.errors import ServiceError
from monitoring.event_problems import listed, problem
from monitoring.event_schema import (
    FUTURE_SLACK,
    MAX_EVENTS,
    SCORE_NAME,
    SURFACES,
    Batch,
    Checked,
    settle,
)

# What other modules know the contract by (the OTLP receiver, monitors, rollups).
__all__ = ["MAX_EVENTS", "SCORE_NAME", "SURFACES", "BatchTooLarge", "Checked", "events_check"]

BATCH = msgspec.json.Decoder(Batch)
EVENTS = list[Checked]
SHAPE = 'Send {"events": [...]}, a list of events.'


class BatchTooLarge(ServiceError):
    """More events than one request may carry: refused before any is checked."""

    status = 413

    def __init__(self, message: str):
        super().__init__(message, "events")


class NotJSON(ServiceError):
    """A body that is no JSON at all."""

    def __init__(self, message: str):
        super().__init__(message, "events")


def events_decode(body: bytes, now: datetime | None = None) -> tuple[list[Checked], list[dict]]:
    """The event API's body: (the checked events, the problems), as `events_check`."""
    try:
        events = BATCH.decode(body).events
    except msgspec.DecodeError:  # refused: decoded again, plainly, to name every problem
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise NotJSON(f"Not JSON: {error}.") from None
        except RecursionError:
            raise NotJSON("Not JSON this deeply nested.") from None
        return events_check(payload, now)
    _size(events)
    # A NUL can only be in a JSON string as the escape \u0000: without one, none to look for.
    return _settled(events, now, nul=b"\\u0000" in body)


def events_check(
    payload, now: datetime | None = None, *, nul: bool = True
) -> tuple[list[Checked], list[dict]]:
    """(the checked events, the problems). Problems are `{"index", "field", "message"}`;
    the index is None for a problem with the batch itself. The events of a refused batch
    that have no problem of their own are checked too (the OTLP receiver stores them).

    `nul=False` is the caller's word that no string of the payload can hold a NUL (the OTLP
    receiver refuses them as it reads), which spares looking for one in every field."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return [], [problem(None, "events", SHAPE)]
    raw = payload["events"]
    _size(raw)
    try:
        events = msgspec.convert(raw, EVENTS)
    except msgspec.ValidationError:
        return listed(raw, _latest(now))
    return _settled(events, now, nul=nul)


def _size(events: list) -> None:
    if len(events) > MAX_EVENTS:
        raise BatchTooLarge(f"At most {MAX_EVENTS} events per request; this one has {len(events)}.")


def _latest(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)) + FUTURE_SLACK


def _settled(events: list[Checked], now, nul: bool) -> tuple[list[Checked], list[dict]]:
    if not events:
        return [], [problem(None, "events", "The list of events is empty.")]
    latest = _latest(now)
    problems: list[dict] = []
    for index, event in enumerate(events):
        found = settle(index, event, latest, nul)
        if found:
            problems += found
    if not problems:
        return events, problems
    refused = {p["index"] for p in problems}
    return [e for n, e in enumerate(events) if n not in refused], problems
