"""Checking a batch of events against the contract (docs/INTERFACE.md, "Events"), fast.

A batch may hold 5,000 events, so this is plain code over dicts rather than a serializer
per field: every event is checked, every problem is reported with its index and field, and
a batch with any problem is refused whole.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from core.errors import ServiceError

MAX_EVENTS = 5000
MAX_TEXT = 100_000
MAX_ACTIONS = 100
SURFACES = ("model", "prompt", "retrieval", "config")
FIELDS = {
    "id",
    "ts",
    "input",
    "output",
    "refused",
    "versions",
    "actions",
    "subject",
    "scores",
    "error",
    "finish_reason",
    "usage",
    "provider",
}
OUTPUT_FIELDS = {"label", "score", "text"}
USAGE_FIELDS = ("input_tokens", "output_tokens")
# Named scores from a team's own evaluators (faithfulness, toxicity...): a few per event.
MAX_SCORES = 20
SCORE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_TOKENS = 10**9
# A sender's clock may run a little fast; an event from much further ahead is a bug.
FUTURE_SLACK = timedelta(minutes=5)
# One encoder for every event: json.dumps with separators builds a new one per call.
compact_json = json.JSONEncoder(separators=(",", ":")).encode


class BatchTooLarge(ServiceError):
    """More events than one request may carry: refused before any is checked."""

    status = 413

    def __init__(self, message: str):
        super().__init__(message, "events")


@dataclass(slots=True)
class Checked:
    """One valid event, normalised."""

    client_id: str
    ts: datetime
    input: dict
    input_json: str
    label: str
    score: float | None
    text: str
    refused: bool
    versions: dict
    actions: list
    actions_json: str
    subject: str
    scores: dict[str, float]
    error: str
    finish_reason: str
    input_tokens: int | None
    output_tokens: int | None
    provider: str


def events_check(payload, now: datetime | None = None) -> tuple[list[Checked], list[dict]]:
    """(the checked events, the problems). Problems are `{"index", "field", "message"}`;
    the index is None for a problem with the batch itself."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return [], [_problem(None, "events", 'Send {"events": [...]}, a list of events.')]
    raw = payload["events"]
    if len(raw) > MAX_EVENTS:
        raise BatchTooLarge(f"At most {MAX_EVENTS} events per request; this one has {len(raw)}.")
    if not raw:
        return [], [_problem(None, "events", "The list of events is empty.")]
    latest = (now or datetime.now(UTC)) + FUTURE_SLACK
    checked: list[Checked] = []
    problems: list[dict] = []
    for index, event in enumerate(raw):
        found = _check(index, event, latest, problems)
        if found is not None:
            checked.append(found)
    return checked, problems


def _problem(index, field: str, message: str) -> dict:
    return {"index": index, "field": field, "message": message}


def _text(value, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _check(index: int, event, latest: datetime, problems: list) -> Checked | None:
    if not isinstance(event, dict):
        problems.append(_problem(index, "", "Each event is an object."))
        return None
    before = len(problems)
    unknown = event.keys() - FIELDS
    if unknown:
        problems.append(_problem(index, sorted(unknown)[0], "Not a field of an event."))
    client_id = event.get("id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > 100:
        problems.append(
            _problem(index, "id", "A string of 1 to 100 characters, unique per system.")
        )
    ts = _timestamp(event.get("ts"))
    if ts is None:
        problems.append(
            _problem(index, "ts", "An RFC 3339 time with its offset, e.g. 2026-11-28T14:32:05Z.")
        )
    elif ts > latest:
        problems.append(_problem(index, "ts", "More than 5 minutes in the future."))
    data = event.get("input", {})
    data_json = ""
    if not isinstance(data, dict):
        problems.append(_problem(index, "input", "An object of input features."))
    else:
        data_json = compact_json(data)
        if "\\u0000" in data_json:
            problems.append(_problem(index, "input", "Contains a NUL character."))
    output = event.get("output", {})
    label, score, text = "", None, ""
    if not isinstance(output, dict):
        problems.append(_problem(index, "output", "An object with label, score and text."))
    else:
        if output.keys() - OUTPUT_FIELDS:
            field = sorted(output.keys() - OUTPUT_FIELDS)[0]
            problems.append(_problem(index, f"output.{field}", "Not a field of an output."))
        label = output.get("label", "")
        if label is None:
            label = ""
        if not _text(label, 100):
            problems.append(_problem(index, "output.label", "A string of at most 100 characters."))
        score = output.get("score")
        if score is not None and not _finite(score):
            problems.append(_problem(index, "output.score", "A finite number."))
        text = output.get("text", "")
        if text is None:
            text = ""
        if not _text(text, MAX_TEXT):
            problems.append(
                _problem(index, "output.text", f"A string of at most {MAX_TEXT} characters.")
            )
    refused = event.get("refused", False)
    if not isinstance(refused, bool):
        problems.append(_problem(index, "refused", "true or false."))
    versions = event.get("versions", {})
    if not isinstance(versions, dict):
        problems.append(
            _problem(index, "versions", "An object naming the version of each surface.")
        )
    else:
        for surface, ref in versions.items():
            if surface not in SURFACES:
                problems.append(
                    _problem(index, f"versions.{surface}", f"Not a surface: {', '.join(SURFACES)}.")
                )
            elif (
                isinstance(ref, bool)
                or not isinstance(ref, str | int)
                or len(str(ref)) > 100
                or "\x00" in str(ref)  # PostgreSQL stores no NUL: a 400 here, not a 500
            ):
                problems.append(
                    _problem(
                        index,
                        f"versions.{surface}",
                        'A version reference: 13, "v13" or a model version id.',
                    )
                )
    actions = event.get("actions", [])
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        problems.append(_problem(index, "actions", f"A list of at most {MAX_ACTIONS} actions."))
    else:
        for n, action in enumerate(actions):
            if (
                not isinstance(action, dict)
                or not _text(action.get("type"), 64)
                or not action.get("type")
            ):
                problems.append(
                    _problem(index, f"actions.{n}.type", "Each action has a type (a string).")
                )
            elif not _text(action.get("subject", ""), 200):
                problems.append(
                    _problem(index, f"actions.{n}.subject", "A string of at most 200 characters.")
                )
    subject = event.get("subject", "")
    if subject is None:
        subject = ""
    if not _text(subject, 200):
        problems.append(_problem(index, "subject", "A string of at most 200 characters."))
    scores = _scores(index, _object(event, "scores"), problems)
    usage = _usage(index, _object(event, "usage"), problems)
    error, finish_reason, provider = (
        _short_text(index, event, field, limit, problems)
        for field, limit in (("error", 100), ("finish_reason", 40), ("provider", 64))
    )
    if len(problems) > before:
        return None
    actions = [{"type": a["type"], "subject": a.get("subject", "")} for a in actions]
    actions_json = compact_json(actions)
    # PostgreSQL stores no NUL character in text or JSON: refuse it here, not with a 500.
    for field, value in (("id", client_id), ("output.label", label), ("output.text", text)):
        if isinstance(value, str) and "\x00" in value:
            problems.append(_problem(index, field, "Contains a NUL character."))
    if "\x00" in subject:
        problems.append(_problem(index, "subject", "Contains a NUL character."))
    if "\\u0000" in actions_json:
        problems.append(_problem(index, "actions", "Contains a NUL character."))
    if len(problems) > before:
        return None
    return Checked(
        client_id=cast(str, client_id),
        ts=cast(datetime, ts),
        input=data,
        input_json=data_json,
        label=label,
        score=None if score is None else float(score),
        text=text,
        refused=refused,
        versions={surface: str(ref) for surface, ref in versions.items()},
        actions=actions,
        actions_json=actions_json,
        subject=subject,
        scores=scores,
        error=error,
        finish_reason=finish_reason,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        provider=provider,
    )


def _finite(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer beyond any float: a 400, not a 500
        return False


def _object(event: dict, field: str):
    """An optional object field: absent or null means empty."""
    value = event.get(field)
    return {} if value is None else value


def _scores(index: int, scores, problems: list) -> dict[str, float]:
    """`{"faithfulness": 0.82}`: named finite numbers, at most MAX_SCORES of them."""
    if not isinstance(scores, dict) or len(scores) > MAX_SCORES:
        problems.append(
            _problem(index, "scores", f"An object of at most {MAX_SCORES} named numbers.")
        )
        return {}
    for name, value in scores.items():
        if not SCORE_NAME.fullmatch(name):
            problems.append(
                _problem(
                    index,
                    "scores",
                    f"{name[:70]!r} is not a score name: 1 to 64 letters, digits or _ . : -.",
                )
            )
        elif not _finite(value):
            problems.append(_problem(index, f"scores.{name}", "A finite number."))
    return {name: float(value) for name, value in scores.items() if _finite(value)}


def _usage(index: int, usage, problems: list) -> dict[str, int]:
    """`{"input_tokens": 812, "output_tokens": 164}`: whole numbers of tokens."""
    if not isinstance(usage, dict):
        problems.append(_problem(index, "usage", "An object with input_tokens, output_tokens."))
        return {}
    for field in sorted(usage.keys() - set(USAGE_FIELDS)):
        problems.append(_problem(index, f"usage.{field}", "Not a field of usage."))
    found = {}
    for field in USAGE_FIELDS:
        value = usage.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
            problems.append(
                _problem(index, f"usage.{field}", f"A whole number of tokens, 0 to {MAX_TOKENS:,}.")
            )
        else:
            found[field] = value
    return found


def _short_text(index: int, event: dict, field: str, limit: int, problems: list) -> str:
    """`error`, `finish_reason`, `provider`: a short string; null or "" means none."""
    value = event.get(field)
    if value is None:
        return ""
    if not _text(value, limit) or "\x00" in value:
        problems.append(
            _problem(index, field, f"A string of at most {limit} characters, without NUL.")
        )
        return ""
    return value


def _timestamp(value) -> datetime | None:
    """An RFC 3339 string's time; or an aware datetime as it is, as the OpenTelemetry
    receiver maps a span's nanoseconds (JSON never holds one)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None
