"""The simulated support drafter's telemetry, sent as a team's own service sends it: one
OpenTelemetry span per reply, with the generative-AI semantic conventions, exported by the
OpenTelemetry SDK's own OTLP/HTTP exporter (protobuf) to Failsafe's `/otlp/v1/traces`.

What OpenTelemetry has no convention for rides on `failsafe.*` attributes (the subject,
the actions the reply set off, the refusal, the label, the input features). The
evaluator's faithfulness score is a `gen_ai.evaluation.result` span event.

OpenTelemetry is imported inside the functions that need it: only the demo's drafter
(`manage.py simulate`) uses it, never a request Failsafe serves.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from monitoring.simulator import MAX_OUTPUT_TOKENS

OPERATION = "chat"
EVALUATION_EVENT = "gen_ai.evaluation.result"
# How long a simulated call takes: a first token, then a steady stream of the rest.
FIRST_TOKEN_SECONDS = 0.35
SECONDS_PER_TOKEN = 0.012
FAILED_CALL_SECONDS = 10.0  # a timeout or a rate limit answers after the client's timeout


def span_times(event: dict[str, Any]) -> tuple[int, int]:
    """(start, end) in epoch nanoseconds: the event's time is when the call ended."""
    end = round(datetime.fromisoformat(event["ts"]).timestamp() * 1e9)
    if event.get("error"):
        seconds = FAILED_CALL_SECONDS
    else:
        seconds = FIRST_TOKEN_SECONDS + SECONDS_PER_TOKEN * event["usage"]["output_tokens"]
    return end - round(seconds * 1e9), end


def span_name(event: dict[str, Any]) -> str:
    return f"{OPERATION} {event['versions'].get('model', '')}".strip()


def span_attributes(event: dict[str, Any], prompt_name: str = "") -> dict[str, Any]:
    """The span attributes of one simulated reply (an event as `Simulator.events` makes
    it, its versions being what is served: the model's reference and the prompt's
    version number, which Failsafe's registry resolves)."""
    versions = event["versions"]
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": event["provider"],
        "gen_ai.request.max_tokens": MAX_OUTPUT_TOKENS,
        "failsafe.subject": event["subject"],
        "failsafe.actions": [action["type"] for action in event["actions"]],
        "failsafe.refused": event["refused"],
    }
    if "model" in versions:
        attributes["gen_ai.request.model"] = versions["model"]
    if "prompt" in versions:
        attributes["gen_ai.prompt.version"] = versions["prompt"]
        if prompt_name:
            attributes["gen_ai.prompt.name"] = prompt_name
    for feature, value in event["input"].items():
        attributes[f"failsafe.input.{feature}"] = value
    usage = event["usage"]
    attributes["gen_ai.usage.input_tokens"] = usage["input_tokens"]
    ticket = event["input"]
    attributes["gen_ai.input.messages"] = json.dumps(
        [
            {
                "role": "user",
                "parts": [
                    {
                        "type": "text",
                        "content": f"[A {ticket['topic']} ticket by {ticket['channel']}, "
                        f"{ticket['message_chars']} characters]",
                    }
                ],
            }
        ]
    )
    if event.get("error"):
        attributes["error.type"] = event["error"]
        return attributes
    output = event["output"]
    finish = event["finish_reason"]
    attributes.update(
        {
            "gen_ai.response.model": versions.get("model", ""),
            "gen_ai.usage.output_tokens": usage["output_tokens"],
            "gen_ai.response.finish_reasons": [finish],
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": output["text"]}],
                        "finish_reason": finish,
                    }
                ]
            ),
        }
    )
    if output.get("label"):
        attributes["failsafe.label"] = output["label"]
    return attributes


def evaluations(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The attributes of each `gen_ai.evaluation.result` span event of a reply."""
    return [
        {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": value}
        for name, value in event.get("scores", {}).items()
    ]


def spans_emit(tracer, events: list[dict[str, Any]], prompt_name: str = "") -> None:
    """One span per event on `tracer`, started and ended at the event's simulated times."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    for event in events:
        start, end = span_times(event)
        span = tracer.start_span(
            span_name(event),
            kind=SpanKind.CLIENT,
            attributes=span_attributes(event, prompt_name),
            start_time=start,
        )
        for attributes in evaluations(event):
            span.add_event(EVALUATION_EVENT, attributes, timestamp=end)
        if event.get("error"):
            span.set_status(Status(StatusCode.ERROR, event["error"]))
        span.end(end_time=end)


class DrafterTelemetry:
    """An OpenTelemetry tracer provider for one system (`service.name` is its slug) whose
    spans go to Failsafe's OTLP endpoint with the system's token, batched in the
    background as the SDK does."""

    def __init__(self, url: str, token: str, slug: str, *, delay_seconds: float = 1.0):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.provider = TracerProvider(resource=Resource({"service.name": slug}))
        exporter = OTLPSpanExporter(
            endpoint=f"{url.rstrip('/')}/otlp/v1/traces",
            headers={"Authorization": f"Bearer {token}"},
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=delay_seconds * 1000)
        )
        self.tracer = self.provider.get_tracer("failsafe.simulator")

    def report(self, events: list[dict[str, Any]], prompt_name: str = "") -> None:
        spans_emit(self.tracer, events, prompt_name)

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        return self.provider.force_flush(int(timeout_seconds * 1000))

    def close(self) -> None:
        self.provider.shutdown()
