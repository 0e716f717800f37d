"""OTLP requests as exporters send them: OTLP JSON (hex ids) built here, posted as JSON or
as protobuf."""

import base64
import copy
import json
import secrets
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format

TRACES = "/otlp/v1/traces"
LOGS = "/otlp/v1/logs"


def nanos(at: datetime) -> str:
    return str(int(at.timestamp() * 1_000_000) * 1000)


def value(python) -> dict:
    """An OTLP JSON AnyValue."""
    if isinstance(python, bool):
        return {"boolValue": python}
    if isinstance(python, int):
        return {"intValue": str(python)}
    if isinstance(python, float):
        return {"doubleValue": python}
    if isinstance(python, list | tuple):
        return {"arrayValue": {"values": [value(item) for item in python]}}
    return {"stringValue": python}


def attributes(pairs: dict) -> list[dict]:
    return [{"key": key, "value": value(item)} for key, item in pairs.items()]


def span_id() -> str:
    return secrets.token_hex(8)


def span(
    ident: str | None = None,
    *,
    at: datetime | None = None,
    score: float | None = None,
    events: tuple = (),
    status: int = 0,
    **attrs,
) -> dict:
    """A generative-AI span in OTLP JSON: attrs with dots as `__` (gen_ai__request__model)."""
    at = at or datetime.now(UTC) - timedelta(seconds=5)
    pairs = {key.replace("__", "."): item for key, item in attrs.items()}
    span_events = [
        {"name": name, "timeUnixNano": nanos(at), "attributes": attributes(a)} for name, a in events
    ]
    if score is not None:
        span_events.append(evaluation_event("faithfulness", score, at))
    found = {
        "traceId": secrets.token_hex(16),
        "spanId": ident or span_id(),
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": nanos(at - timedelta(milliseconds=800)),
        "endTimeUnixNano": nanos(at),
        "attributes": attributes(pairs),
        "events": span_events,
    }
    if status:
        found["status"] = {"code": status, "message": "upstream timed out"}
    return found


def evaluation_event(name: str, score: float, at: datetime) -> dict:
    return {
        "name": "gen_ai.evaluation.result",
        "timeUnixNano": nanos(at),
        "attributes": attributes(
            {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": score}
        ),
    }


def chat(ident=None, **attrs) -> dict:
    """A chat completion as the GenAI conventions describe it, content captured."""
    fields = {
        "gen_ai__operation__name": "chat",
        "gen_ai__provider__name": "openai",
        "gen_ai__request__model": "gpt-4o",
        "gen_ai__response__model": "gpt-4o-2024-08-06",
        "gen_ai__response__finish_reasons": ["stop"],
        "gen_ai__usage__input_tokens": 812,
        "gen_ai__usage__output_tokens": 164,
        "gen_ai__input__messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Refund order 1182?"}]}]
        ),
        "gen_ai__output__messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Refund approved."}],
                    "finish_reason": "stop",
                }
            ]
        ),
    }
    return span(ident, **(fields | attrs))


def traces_body(*spans, service="refund-classifier") -> dict:
    resource = {"attributes": attributes({"service.name": service})} if service else {}
    return {
        "resourceSpans": [
            {
                "resource": resource,
                "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
            }
        ]
    }


def evaluation_log(ident: str, name: str, score, *, in_attribute=False) -> dict:
    record = {
        "timeUnixNano": nanos(datetime.now(UTC)),
        "spanId": ident,
        "traceId": secrets.token_hex(16),
        "attributes": attributes(
            {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": score}
        ),
    }
    if in_attribute:  # older SDKs: the event's name as an attribute
        record["attributes"] += attributes({"event.name": "gen_ai.evaluation.result"})
    else:
        record["eventName"] = "gen_ai.evaluation.result"
    return record


def logs_body(*records, service="refund-classifier") -> dict:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attributes({"service.name": service})},
                "scopeLogs": [{"scope": {"name": "evals"}, "logRecords": list(records)}],
            }
        ]
    }


def post_json(client, url, body, token, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(url, json.dumps(body), content_type="application/json", **headers, **extra)


def post_bytes(client, url, body: bytes, token, content_type="application/x-protobuf", **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    # CONTENT_TYPE as well: the test client drops content_type with an empty body.
    headers["CONTENT_TYPE"] = content_type
    return client.post(url, body, content_type=content_type, **headers, **extra)


def protobuf_of(body: dict, request_class) -> bytes:
    """The same request in protobuf: ids from hex to bytes, as protobuf's JSON wants them."""
    data = copy.deepcopy(body)
    for resource in data.get("resourceSpans", []) + data.get("resourceLogs", []):
        for scope in resource.get("scopeSpans", []) + resource.get("scopeLogs", []):
            for record in scope.get("spans", []) + scope.get("logRecords", []):
                for field in ("traceId", "spanId", "parentSpanId"):
                    if record.get(field):
                        record[field] = base64.b64encode(bytes.fromhex(record[field])).decode()
    return json_format.ParseDict(data, request_class()).SerializeToString()
