"""A generative-AI span as a Failsafe event, and an evaluation result as a score. Pure.

Which span attribute fills which event field, in order of preference, is the table in
docs/TELEMETRY.md: the OpenTelemetry GenAI semantic conventions first, their older names
next, OpenInference's last, and `failsafe.*` attributes for what none of them has a
convention for. The event is then checked by the same contract as the event API's
(`monitoring.contract.events_check`); this module only maps."""

from datetime import UTC, datetime

import msgspec

from telemetry.otlp.records import LogRecord, SpanRecord

EVALUATION = "gen_ai.evaluation.result"
FAILSAFE_INPUT = "failsafe.input."
# The keys sorting strictly between these two are exactly those that start with
# FAILSAFE_INPUT and name something ("/" follows "."): a comparison, cheaper than a call.
FEATURES_AFTER, FEATURES_BEFORE = FAILSAFE_INPUT, "failsafe.input/"
# The attributes read as JSON: the only way for a NUL (written \u0000) to reach an event,
# since the reader refuses one in any string it reads.
JSON_ATTRIBUTES = ("gen_ai.input.messages", "gen_ai.output.messages")
# Event fields read from the first of several attributes that is set (docs/TELEMETRY.md).
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
PROMPT = ("gen_ai.prompt.version", "gen_ai.prompt.name")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
USAGE = (
    (
        "input_tokens",
        ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    ),
    (
        "output_tokens",
        (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ),
    ),
)
# Two small JSON documents per span: msgspec decodes each in a fraction of json.loads's time.
decode_json = msgspec.json.decode


def is_generation(attributes: dict) -> bool:
    """A generative-AI call: a GenAI convention attribute, or an OpenInference LLM span."""
    return (
        "gen_ai.operation.name" in attributes  # set on every GenAI span: no scan needed
        or any(key.startswith("gen_ai.") for key in attributes)
        or attributes.get("openinference.span.kind") == "LLM"
        or "llm.model_name" in attributes
    )


def may_hold_nul(span: SpanRecord) -> bool:
    """Whether the span's event can hold a NUL character, for the contract to look for
    (`events_check(..., nul=)`): only when a JSON attribute escapes one."""
    for key in JSON_ATTRIBUTES:
        value = span.attributes.get(key)
        if isinstance(value, str) and "\\u0000" in value:
            return True
    return False


def span_event(span: SpanRecord) -> dict:
    """The event (as the event API takes it, its time a datetime) of a generative-AI span."""
    attributes = span.attributes
    outputs = _messages(attributes.get("gen_ai.output.messages"))
    finish = _finish_reason(attributes, outputs)
    event: dict = {"id": span.span_id, "ts": _time(span.end_ns or span.start_ns)}
    versions = _versions(attributes)
    if versions:
        event["versions"] = versions
    inputs = _inputs(attributes)
    if inputs:
        event["input"] = inputs
    output = _output(attributes, outputs)
    if output:
        event["output"] = output
    refused = attributes.get("failsafe.refused")
    if not isinstance(refused, bool):
        refused = finish == "content_filter" or _has_refusal(outputs)
    if refused:
        event["refused"] = True
    subject = attributes.get("failsafe.subject")
    if subject is not None:
        event["subject"] = subject
    actions = attributes.get("failsafe.actions")
    if actions is not None:
        event["actions"] = (
            [{"type": kind, "subject": subject or ""} for kind in actions]
            if isinstance(actions, list)
            else actions  # not a list: the contract says what is wrong with it
        )
    scores = _scores(span.events)
    if scores:
        event["scores"] = scores
    error = _error(span)
    if error:
        event["error"] = error
    if finish:
        event["finish_reason"] = finish
    usage = _usage(attributes)
    if usage:
        event["usage"] = usage
    provider = _first(attributes, PROVIDER)
    if provider is not None:
        event["provider"] = provider
    return event


def _first(attributes: dict, keys: tuple[str, ...]):
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _time(ns: int) -> datetime | None:
    """The span's time to the microsecond, as an aware datetime: the contract takes one as
    it is, where text would be formatted here only to be parsed back."""
    if not ns:
        return None  # the contract refuses an event without a time
    try:
        # Exact: until the year 2242 the float is within half a microsecond of the whole
        # microseconds, which fromtimestamp rounds to (any later time is refused as future).
        return datetime.fromtimestamp(ns // 1000 / 1e6, UTC)
    except (OverflowError, OSError, ValueError):  # a time no datetime holds
        return None


def _versions(attributes: dict) -> dict:
    versions = {}
    model = _first(attributes, MODEL)
    if model is not None:
        versions["model"] = model
    prompt = _first(attributes, PROMPT)
    if prompt is not None:
        versions["prompt"] = prompt
    return versions


def _messages(value) -> list[dict] | None:
    """The GenAI conventions' messages (a JSON string, or already a list); None when absent.
    A string that is not the JSON of a list is kept as one message of plain text."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = decode_json(value)
        except (ValueError, RecursionError):  # not JSON, or nested past any message's depth
            return [{"parts": [{"type": "text", "content": value}]}]
    if not isinstance(value, list):
        return None
    return [message for message in value if isinstance(message, dict)]


def _message_text(message: dict) -> str:
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = []
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "text":
                content = part.get("content")
                if isinstance(content, str):
                    texts.append(content)
        return texts[0] if len(texts) == 1 else "\n".join(texts)
    content = message.get("content")  # the older conventions' {"role", "content"}
    return content if isinstance(content, str) else ""


def _numbered(attributes: dict, prefix: str) -> list[dict]:
    """`gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, … as messages."""
    found = []
    n = 0
    while f"{prefix}.{n}.content" in attributes or f"{prefix}.{n}.role" in attributes:
        content = attributes.get(f"{prefix}.{n}.content")
        role = attributes.get(f"{prefix}.{n}.role")
        found.append({"role": role, "content": content if isinstance(content, str) else ""})
        n += 1
    return found


def _lines(messages: list[dict]) -> str:
    lines = []
    for message in messages:
        text, role = _message_text(message), message.get("role")
        lines.append(f"{role}: {text}" if isinstance(role, str) and role else text)
    return "\n".join(lines)


def _inputs(attributes: dict) -> dict:
    inputs: dict = {}
    messages = _messages(attributes.get("gen_ai.input.messages")) or _numbered(
        attributes, "gen_ai.prompt"
    )
    if messages:
        inputs["prompt"] = _lines(messages)
    elif isinstance(attributes.get("input.value"), str):
        inputs["prompt"] = attributes["input.value"]
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None:
        inputs["operation"] = operation
    start = len(FAILSAFE_INPUT)
    for key, value in attributes.items():
        if FEATURES_AFTER < key < FEATURES_BEFORE:
            inputs[key[start:]] = value
    return inputs


def _output(attributes: dict, outputs: list[dict] | None) -> dict:
    output = {}
    messages = outputs or _numbered(attributes, "gen_ai.completion")
    if messages:
        output["text"] = "\n".join(_message_text(message) for message in messages)
    elif isinstance(attributes.get("output.value"), str):
        output["text"] = attributes["output.value"]
    label = attributes.get("failsafe.label")
    if label is not None:
        output["label"] = label
    return output


def _finish_reason(attributes: dict, outputs: list[dict] | None):
    reasons = attributes.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons:
        return reasons[0]
    if isinstance(reasons, str) and reasons:
        return reasons
    for message in outputs or []:
        if message.get("finish_reason"):
            return message["finish_reason"]
    return None


def _has_refusal(outputs: list[dict] | None) -> bool:
    for message in outputs or []:
        parts = message.get("parts")
        if isinstance(parts, list) and any(
            isinstance(part, dict) and part.get("type") == "refusal" for part in parts
        ):
            return True
    return False


def _tokens(value):
    """A whole number of tokens; a float that is one (12.0) counts too. Anything else is
    left for the contract to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _usage(attributes: dict) -> dict:
    usage = {}
    for field, keys in USAGE:
        value = _first(attributes, keys)
        if value is not None:
            usage[field] = _tokens(value)
    return usage


def _error(span: SpanRecord) -> str:
    kind = span.attributes.get("error.type")
    if kind is not None and kind != "":
        return kind if isinstance(kind, str) else str(kind)
    return "error" if span.failed else ""


def evaluation(attributes: dict) -> tuple[str, object] | None:
    """(score name, value) of an evaluation result's attributes; None when it has no name
    or no value (a label-only evaluation)."""
    name = attributes.get("gen_ai.evaluation.name")
    value = attributes.get("gen_ai.evaluation.score.value")
    if not isinstance(name, str) or not name or value is None:
        return None
    return name, value


def _scores(events: list[tuple[str, dict]]) -> dict:
    """The span's evaluation results; the first of each name counts (as for late scores)."""
    scores: dict = {}
    for name, attributes in events:
        found = evaluation(attributes) if name == EVALUATION else None
        if found is not None:
            scores.setdefault(*found)
    return scores


def is_evaluation(record: LogRecord) -> bool:
    """A log record of the GenAI evaluation event (its event name, or `event.name`)."""
    return (record.event_name or record.attributes.get("event.name")) == EVALUATION
