"""A malformed OTLP request is refused whole with a 4xx and its reason, never a 5xx, and
nothing of it is stored; overload and a database outage ask the exporter to retry."""

import gzip
import json
import socket

import pytest
from django.db import connection
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from monitoring.models import Event
from systems.services import token_issue, token_revoke
from telemetry.models import OtlpIntake
from tests.factories import AISystemFactory
from tests.telemetry.otlp_bodies import (
    LOGS,
    TRACES,
    chat,
    post_bytes,
    post_json,
    protobuf_of,
    traces_body,
)

pytestmark = pytest.mark.django_db


def _protobuf(*spans) -> bytes:
    return protobuf_of(traces_body(*spans), ExportTraceServiceRequest)


def _refused(answer, status: int) -> str:
    """The answer's reason, after checking it is the refusal expected and nothing was stored."""
    assert answer.status_code == status, answer.content
    assert Event.objects.count() == 0
    if answer["Content-Type"] == "application/x-protobuf":
        return status_pb2.Status.FromString(answer.content).message
    body = answer.json()
    assert set(body) == {"code", "message"}
    return body["message"]


def test_a_truncated_protobuf_body_is_a_400(client, token):
    body = _protobuf(chat(), chat())
    message = _refused(post_bytes(client, TRACES, body[: len(body) // 2], token), 400)
    assert "Not a protobuf ExportTraceServiceRequest" in message
    assert OtlpIntake.objects.get().requests_refused == 1


def test_invalid_json_is_a_400_answered_as_a_status(client, token):
    answer = post_bytes(client, TRACES, b'{"resourceSpans": [', token, "application/json")
    assert answer.json()["code"] == 3
    assert _refused(answer, 400).startswith("Not JSON")


def test_a_content_type_other_than_protobuf_or_json_is_a_415(client, token):
    message = _refused(post_bytes(client, TRACES, _protobuf(chat()), token, "text/plain"), 415)
    assert "application/x-protobuf" in message


def test_an_empty_body_is_a_400(client, token):
    assert "empty" in _refused(post_bytes(client, TRACES, b"", token), 400)


def test_an_attribute_over_the_size_limit_is_a_400_naming_span_and_attribute(client, token):
    big = chat(gen_ai__input__messages="x" * (256 * 1024 + 1))
    message = _refused(post_bytes(client, TRACES, _protobuf(chat(), big), token), 400)
    assert message.startswith(
        "resourceSpans[0].scopeSpans[0].spans[1]: attribute gen_ai.input.messages: 262145 bytes"
    )


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_nul_character_anywhere_is_a_400(client, token, encoding):
    spans = (chat(), chat(failsafe__subject="customer\x0077"))
    if encoding == "protobuf":
        answer = post_bytes(client, TRACES, _protobuf(*spans), token)
    else:
        answer = post_json(client, TRACES, traces_body(*spans), token)
    message = _refused(answer, 400)
    assert message == (
        "resourceSpans[0].scopeSpans[0].spans[1]: attribute failsafe.subject: "
        "contains a NUL character."
    )


@pytest.mark.parametrize(
    ("field", "bad", "expected"),
    [
        ("spanId", "not-hex-at-all!!", "spans[1].spanId: not 16 hex characters."),
        ("spanId", "abc123", "spans[1].spanId: not 16 hex characters."),
        ("traceId", "0" * 31, "spans[1].traceId: not 32 hex characters."),
    ],
)
def test_a_bad_hex_id_in_json_is_a_400_naming_the_field(client, token, field, bad, expected):
    body = traces_body(chat(), chat())
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][1][field] = bad
    message = _refused(post_json(client, TRACES, body, token), 400)
    assert message == f"resourceSpans[0].scopeSpans[0].{expected}"


def test_a_span_id_of_the_wrong_length_in_protobuf_is_a_400(client, token):
    request = ExportTraceServiceRequest.FromString(_protobuf(chat()))
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02\x03"
    message = _refused(post_bytes(client, TRACES, request.SerializeToString(), token), 400)
    assert message == "resourceSpans[0].scopeSpans[0].spans[0].spanId: not 8 bytes."


def test_a_linked_span_with_a_nul_in_its_attributes_is_a_400_naming_the_link(client, token):
    request = ExportTraceServiceRequest.FromString(_protobuf(chat(), chat()))
    link = request.resource_spans[0].scope_spans[0].spans[1].links.add()
    link.trace_id, link.span_id = b"\x01" * 16, b"\x02" * 8
    link.attributes.add(key="note").value.string_value = "a\x00b"
    message = _refused(post_bytes(client, TRACES, request.SerializeToString(), token), 400)
    assert message == (
        "resourceSpans[0].scopeSpans[0].spans[1].links[0]: attribute note: "
        "contains a NUL character."
    )


def test_a_nul_in_a_span_name_is_a_400_naming_the_field(client, token):
    request = ExportTraceServiceRequest.FromString(_protobuf(chat()))
    request.resource_spans[0].scope_spans[0].spans[0].name = "chat\x00"
    message = _refused(post_bytes(client, TRACES, request.SerializeToString(), token), 400)
    assert message == "resourceSpans[0].scopeSpans[0].spans[0].name: contains a NUL character."


def test_gzip_garbage_is_a_400(client, token):
    answer = post_bytes(
        client, TRACES, b"\x1f\x8b\x08\x00garbage, not deflate", token, HTTP_CONTENT_ENCODING="gzip"
    )
    assert "gzip" in _refused(answer, 400)


def test_a_gzip_body_is_accepted(client, token):
    body = gzip.compress(_protobuf(chat()))
    answer = post_bytes(client, TRACES, body, token, HTTP_CONTENT_ENCODING="gzip")
    assert answer.status_code == 200
    assert Event.objects.count() == 1


def test_a_gzip_bomb_is_a_413(client, token):
    bomb = gzip.compress(b"\x00" * (21 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    answer = post_bytes(client, TRACES, bomb, token, HTTP_CONTENT_ENCODING="gzip")
    assert "inflates to more than" in _refused(answer, 413)


def test_a_body_over_the_limit_is_a_413(client, token, settings):
    settings.FAILSAFE_OTLP_MAX_BYTES = 1000
    assert "At most 1000 bytes" in _refused(post_bytes(client, TRACES, b"\x0a" * 1001, token), 413)


def test_without_a_token_the_request_is_a_401(client, system):
    assert "system token" in _refused(post_bytes(client, TRACES, _protobuf(chat()), None), 401)


def test_an_unknown_or_revoked_token_is_a_401(client, system, token):
    assert _refused(post_bytes(client, TRACES, _protobuf(chat()), "fsk_unknown"), 401)
    token_revoke(actor=None, token=system.tokens.get())
    assert _refused(post_bytes(client, TRACES, _protobuf(chat()), token), 401)


def test_a_token_without_the_events_scope_is_a_403(client, system):
    reader = token_issue(actor=None, system=system, name="mode", scopes=["mode:read"])[1]
    message = _refused(post_bytes(client, LOGS, b"", reader), 403)
    assert "events:write" in message


def test_another_systems_token_cannot_send_this_systems_spans(client, system):
    other = AISystemFactory(slug="support-reply", name="Support reply drafter")
    theirs = token_issue(actor=None, system=other, name="t", scopes=["events:write"])[1]
    message = _refused(post_json(client, TRACES, traces_body(chat()), theirs), 403)
    assert "this token reports for support-reply" in message
    assert OtlpIntake.objects.get(system=other).requests_refused == 1


def test_the_systems_own_token_is_accepted(client, token):
    answer = post_json(client, TRACES, traces_body(chat()), token)
    assert answer.status_code == 200
    assert Event.objects.count() == 1


def test_over_the_concurrency_limit_the_answer_is_429_with_retry_after(client, token, settings):
    settings.FAILSAFE_OTLP_MAX_CONCURRENT = 0
    answer = post_bytes(client, TRACES, _protobuf(chat()), token)
    assert answer["Retry-After"] == "1"
    assert _refused(answer, 429)


@pytest.mark.django_db(transaction=True)
def test_with_the_database_unreachable_the_answer_is_503_with_retry_after(client, token):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port
    try:
        answer = post_bytes(client, TRACES, _protobuf(chat()), token)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert answer["Retry-After"] == "5"
    assert _refused(answer, 503) == "The database is unavailable."


def test_a_refusal_is_shown_as_the_last_rejection(client, token):
    post_json(client, TRACES, json.loads('{"resourceSpans": 3}'), token)
    intake = OtlpIntake.objects.get()
    assert intake.rejection.startswith("Not an OTLP JSON ExportTraceServiceRequest")
