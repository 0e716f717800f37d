"""The event contract (docs/INTERFACE.md, "Events") as typed structs, and the rules they
cannot state: a time too far ahead, a NUL character, null meaning none.

msgspec decodes a batch straight into `Checked` structs, every type and limit checked in
C; `contract` is the way in, `event_problems` names every problem of a refused batch.
"""

import re
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

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
# The integers msgspec decodes: a version number beyond them is no version of ours.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
SHORT_TEXTS = {"error": 100, "finish_reason": 40, "provider": 64}
# A sender's clock may run a little fast; an event from much further ahead is a bug.
FUTURE_SLACK = timedelta(minutes=5)

ID_MESSAGE = "A string of 1 to 100 characters, unique per system."
TS_MESSAGE = "An RFC 3339 time with its offset, e.g. 2026-11-28T14:32:05Z."
FUTURE_MESSAGE = "More than 5 minutes in the future."
VERSION_MESSAGE = 'A version reference: 13, "v13" or a model version id.'
NUL_MESSAGE = "Contains a NUL character."


def short_text_message(limit: int) -> str:
    return f"A string of at most {limit} characters, without NUL."


Id = Annotated[str, Meta(min_length=1, max_length=100)]
Text100 = Annotated[str, Meta(max_length=100)]
Text200 = Annotated[str, Meta(max_length=200)]
OutputText = Annotated[str, Meta(max_length=MAX_TEXT)]
ActionType = Annotated[str, Meta(min_length=1, max_length=64)]
FinishReason = Annotated[str, Meta(max_length=40)]
Provider = Annotated[str, Meta(max_length=64)]
VersionNumber = Annotated[int, Meta(ge=INT_MIN, le=INT_MAX)]
# Finite: JSON has no infinity, but a caller's dict may (the OTLP receiver's).
Number = Annotated[float, Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Tokens = Annotated[int, Meta(ge=0, le=MAX_TOKENS)]
ScoreName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,64}\Z")]
AwareTime = Annotated[datetime, Meta(tz=True)]


# gc=False: a batch is 5,000 of each, and none of them can be part of a reference cycle.
class Output(Struct, forbid_unknown_fields=True, gc=False):
    label: Text100 | None = None
    score: Number | None = None
    text: OutputText | None = None


class Action(Struct, gc=False):
    """Other keys of an action are ignored, and not stored."""

    type: ActionType
    subject: Text200 = ""


class Usage(Struct, forbid_unknown_fields=True, gc=False):
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None


class Checked(Struct, forbid_unknown_fields=True, gc=False):
    """One event as the contract takes it; after `settle`, normalised (null is empty, a
    version reference is text)."""

    client_id: Id = field(name="id")
    ts: AwareTime
    input: dict[str, Any] = {}
    output: Output = field(default_factory=Output)
    refused: bool = False
    versions: dict[Literal["model", "prompt", "retrieval", "config"], Text100 | VersionNumber] = {}
    actions: Annotated[list[Action], Meta(max_length=MAX_ACTIONS)] = []
    subject: Text200 | None = ""
    scores: Annotated[dict[ScoreName, Number], Meta(max_length=MAX_SCORES)] | None = None
    error: Text100 | None = None
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    provider: Provider | None = None

    @property
    def label(self) -> str:
        return self.output.label or ""

    @property
    def score(self) -> float | None:
        return self.output.score

    @property
    def text(self) -> str:
        return self.output.text or ""

    @property
    def input_tokens(self) -> int | None:
        return None if self.usage is None else self.usage.input_tokens

    @property
    def output_tokens(self) -> int | None:
        return None if self.usage is None else self.usage.output_tokens


class Batch(Struct, gc=False):
    events: list[Checked]


def timestamp(value) -> datetime | None:
    """An RFC 3339 string's time, or an aware datetime as it is (the OTLP receiver maps a
    span's nanoseconds to one): the structs' own parser, so both ways agree."""
    if not isinstance(value, str | datetime):
        return None
    try:
        return msgspec.convert(value, AwareTime)
    except msgspec.ValidationError:
        return None


def settle(index: int, event: Checked, latest: datetime, nul: bool) -> list[dict]:
    """Normalise a decoded event and answer what the structs could not refuse: a time
    beyond `latest`, and (`nul`: the batch may hold one) a NUL character, which
    PostgreSQL cannot store (a 400 here, not a 500)."""
    if event.subject is None:
        event.subject = ""
    if event.scores is None:
        event.scores = {}
    if event.error is None:
        event.error = ""
    if event.finish_reason is None:
        event.finish_reason = ""
    if event.provider is None:
        event.provider = ""
    for ref in event.versions.values():
        if type(ref) is not str:
            event.versions = {surface: str(ref) for surface, ref in event.versions.items()}
            break
    if event.ts <= latest and not nul:
        return []
    found = []
    if event.ts > latest:
        found.append({"index": index, "field": "ts", "message": FUTURE_MESSAGE})
    if nul:
        found += _nul(index, event)
    return found


def _nul(index: int, event: Checked) -> list[dict]:
    found = []
    texts = {"id": event.client_id, "output.label": event.label, "output.text": event.text}
    texts["subject"] = event.subject or ""
    for name, value in texts.items():
        if "\x00" in value:
            found.append({"index": index, "field": name, "message": NUL_MESSAGE})
    if event.input and b"\\u0000" in msgspec.json.encode(event.input):
        found.append({"index": index, "field": "input", "message": NUL_MESSAGE})
    for surface, ref in event.versions.items():
        if "\x00" in str(ref):
            found.append(
                {"index": index, "field": f"versions.{surface}", "message": VERSION_MESSAGE}
            )
    if any("\x00" in a.type or "\x00" in a.subject for a in event.actions):
        found.append({"index": index, "field": "actions", "message": NUL_MESSAGE})
    for name, limit in SHORT_TEXTS.items():
        if "\x00" in getattr(event, name):
            found.append({"index": index, "field": name, "message": short_text_message(limit)})
    return found


def field_of(message: str) -> str:
    """The field a msgspec error names (`$.events[3].output.label` -> output.label)."""
    found = re.search(r"`\$(?:\.events)?(?:\[\d+\])?\.?([^`]*)`", message)
    return re.sub(r"\[(\d+)\]", r".\1", found.group(1)) if found else ""
