"""Spans sent as OTLP JSON (hex ids) or protobuf become the same events; a span the event
contract refuses is rejected on its own while the rest are stored."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from monitoring.models import Event, Rollup
from rollbacks.models import Version
from systems.services import token_issue
from telemetry.models import OtlpIntake
from tests.factories import AISystemFactory
from tests.telemetry.otlp_bodies import (
    TRACES,
    chat,
    post_bytes,
    post_json,
    protobuf_of,
    span,
    span_id,
    traces_body,
)

pytestmark = pytest.mark.django_db

FIELDS = (
    "client_id", "ts", "input", "label", "text", "refused", "versions", "served", "actions",
    "subject", "scores", "error", "finish_reason", "input_tokens", "output_tokens", "provider",
)  # fmt: skip


def _register(system):
    Version.objects.create(
        system=system,
        surface="model",
        number=4,
        content={"provider": "openai", "name": "gpt-4o", "version_id": "gpt-4o-2024-08-06"},
        created_by_label="test",
    )
    Version.objects.create(
        system=system,
        surface="prompt",
        number=13,
        content={"template": "Decide {order}", "name": "refund-triage"},
        created_by_label="test",
    )


def _stored(system) -> dict:
    return {
        row["client_id"]: row
        for row in Event.objects.filter(system=system).order_by("client_id").values(*FIELDS)
    }


def test_a_json_body_and_its_protobuf_twin_store_the_same_events(client, system, token):
    twin = AISystemFactory(slug="refund-classifier-eu", name="Refunds EU")
    twin_token = token_issue(actor=None, system=twin, name="t", scopes=["events:write"])[1]
    for each in (system, twin):
        _register(each)
    body = traces_body(
        chat(
            gen_ai__prompt__name="refund-triage@v13",
            failsafe__subject="customer-77",
            failsafe__actions=["refund_issue"],
            failsafe__label="approve",
            failsafe__input__amount=120.5,
            score=0.82,
        ),
        chat(gen_ai__response__finish_reasons=["length"], error__type="timeout", status=2),
        service=None,
    )

    as_json = post_json(client, TRACES, body, token)
    as_protobuf = post_bytes(
        client,
        TRACES,
        protobuf_of(body, ExportTraceServiceRequest),
        twin_token,
        content_type="application/x-protobuf",
    )

    assert as_json.status_code == 200
    assert as_json["Content-Type"] == "application/json"
    assert as_json.json() == {}
    assert as_protobuf.status_code == 200
    assert as_protobuf["Content-Type"] == "application/x-protobuf"
    assert (
        ExportTraceServiceResponse.FromString(as_protobuf.content).partial_success.rejected_spans
        == 0
    )
    mine, theirs = _stored(system), _stored(twin)
    assert mine == theirs and len(mine) == 2
    first = mine[body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"]]
    assert first["versions"] == {"model": "gpt-4o-2024-08-06", "prompt": "refund-triage@v13"}
    assert first["served"] == {"model": 4, "prompt": 13}
    assert first["provider"] == "openai"
    assert first["text"] == "Refund approved."
    assert first["input"] == {
        "prompt": "user: Refund order 1182?",
        "operation": "chat",
        "amount": 120.5,
    }
    assert first["label"] == "approve"
    assert first["subject"] == "customer-77"
    assert first["actions"] == [{"type": "refund_issue", "subject": "customer-77"}]
    assert first["scores"] == {"faithfulness": 0.82}
    assert (first["input_tokens"], first["output_tokens"], first["finish_reason"]) == (
        812,
        164,
        "stop",
    )
    second = mine[body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"]]
    assert (second["error"], second["finish_reason"]) == ("timeout", "length")


def test_a_span_the_contract_refuses_is_rejected_and_the_others_are_stored(client, system, token):
    kept = [chat() for _ in range(3)]
    too_long = chat(
        gen_ai__output__messages=json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "x" * 100_001}]}]
        )
    )
    body = traces_body(kept[0], too_long, *kept[1:], span(db__system="postgresql"))
    # The non-generative span above has no gen_ai attribute: skipped, not rejected.
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][-1]["attributes"] = [
        {"key": "db.system", "value": {"stringValue": "postgresql"}}
    ]

    answer = post_json(client, TRACES, body, token)

    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert f"spans[1] (span {too_long['spanId']}): output.text" in partial["errorMessage"]
    assert "1 span was not a generative-AI call and was skipped." in partial["errorMessage"]
    assert set(Event.objects.values_list("client_id", flat=True)) == {s["spanId"] for s in kept}
    intake = OtlpIntake.objects.get(system=system)
    assert (intake.spans_accepted, intake.spans_rejected, intake.spans_skipped) == (3, 1, 1)
    assert "output.text" in intake.rejection


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize(
    ("attribute", "role", "field"),
    [
        ("gen_ai__output__messages", "assistant", "output.text"),
        ("gen_ai__input__messages", "user", "input"),
    ],
)
def test_a_nul_escaped_in_a_spans_messages_is_rejected_naming_the_field_and_the_others_stored(
    client, system, token, encoding, attribute, role, field
):
    kept = chat()
    # Valid JSON and no NUL in the attribute itself: the NUL appears only once it is decoded.
    messages = json.dumps([{"role": role, "parts": [{"type": "text", "content": "a\x00b"}]}])
    with_nul = chat(**{attribute: messages})
    body = traces_body(kept, with_nul)

    if encoding == "protobuf":
        raw = post_bytes(client, TRACES, protobuf_of(body, ExportTraceServiceRequest), token)
        partial = ExportTraceServiceResponse.FromString(raw.content).partial_success
        rejected, message = partial.rejected_spans, partial.error_message
    else:
        raw = post_json(client, TRACES, body, token)
        partial = raw.json()["partialSuccess"]
        rejected, message = int(partial["rejectedSpans"]), partial["errorMessage"]

    assert raw.status_code == 200
    assert rejected == 1
    assert f"spans[1] (span {with_nul['spanId']}): {field}: Contains a NUL character." in message
    assert list(Event.objects.values_list("client_id", flat=True)) == [kept["spanId"]]


def test_a_span_without_a_known_prompt_reference_stays_unresolved(client, system, token):
    _register(system)
    post_json(
        client, TRACES, traces_body(chat(span_id(), gen_ai__prompt__name="refund-triage:99")), token
    )

    event = Event.objects.get()
    assert event.served == {"model": 4, "prompt": None}
    assert Rollup.objects.filter(
        signal="events", served="model:4|prompt:?refund-triage:99"
    ).exists()


def test_a_span_older_than_the_systems_retention_is_rejected_naming_it(client, system, token):
    kept = chat()
    too_old = chat(at=datetime.now(UTC) - timedelta(days=system.retention_days, minutes=1))

    answer = post_json(client, TRACES, traces_body(kept, too_old), token)

    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert (
        f"(span {too_old['spanId']}): ts: older than this system keeps events (30 days)"
        in (partial["errorMessage"])
    )
    assert list(Event.objects.values_list("client_id", flat=True)) == [kept["spanId"]]
