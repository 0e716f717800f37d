"""The mapping table (docs/TELEMETRY.md): which span attribute fills which event field, in
order of preference. Pure: spans as the receiver reads them, no HTTP."""

import json

import pytest

from monitoring.contract import events_check
from telemetry.otlp.mapping import is_evaluation, is_generation, span_event
from telemetry.otlp.records import LogRecord, SpanRecord

END = 1_764_000_000_123_456_789  # ns


def _span(attributes=None, events=(), failed=False, start=END - 10**9, end=END):
    return SpanRecord(
        path="resourceSpans[0].scopeSpans[0].spans[0]",
        span_id="00f067aa0ba902b7",
        name="chat",
        start_ns=start,
        end_ns=end,
        failed=failed,
        attributes=attributes or {},
        events=list(events),
    )


def test_the_id_is_the_span_id_and_the_time_its_end():
    event = span_event(_span({"gen_ai.request.model": "m"}))
    assert event["id"] == "00f067aa0ba902b7"
    assert event["ts"].isoformat() == "2025-11-24T16:00:00.123456+00:00"


def test_the_contract_takes_the_spans_time_to_the_microsecond():
    checked, problems = events_check({"events": [span_event(_span({"gen_ai.request.model": "m"}))]})
    assert problems == []
    assert checked[0].ts.isoformat() == "2025-11-24T16:00:00.123456+00:00"


def test_a_span_without_an_end_is_dated_by_its_start():
    event = span_event(_span({"gen_ai.request.model": "m"}, end=0))
    assert event["ts"].isoformat() == "2025-11-24T15:59:59.123456+00:00"


@pytest.mark.parametrize(
    ("attributes", "generation"),
    [
        ({"gen_ai.operation.name": "chat"}, True),
        ({"openinference.span.kind": "LLM"}, True),
        ({"llm.model_name": "gpt-4o"}, True),
        ({"openinference.span.kind": "RETRIEVER"}, False),
        ({"http.method": "POST", "failsafe.subject": "c-1"}, False),
    ],
)
def test_only_generative_ai_calls_are_mapped(attributes, generation):
    assert is_generation(attributes) is generation


@pytest.mark.parametrize(
    ("attributes", "versions"),
    [
        ({"gen_ai.response.model": "a-1", "gen_ai.request.model": "a"}, {"model": "a-1"}),
        ({"gen_ai.request.model": "a", "llm.model_name": "b"}, {"model": "a"}),
        ({"llm.model_name": "b"}, {"model": "b"}),
        (
            {"gen_ai.request.model": "a", "gen_ai.prompt.version": "v3", "gen_ai.prompt.name": "x"},
            {"model": "a", "prompt": "v3"},
        ),
        (
            {"gen_ai.request.model": "a", "gen_ai.prompt.name": "triage@v3"},
            {"model": "a", "prompt": "triage@v3"},
        ),
    ],
)
def test_versions_follow_the_order_of_preference(attributes, versions):
    assert span_event(_span(attributes))["versions"] == versions


@pytest.mark.parametrize(
    ("attributes", "provider"),
    [
        ({"gen_ai.provider.name": "openai", "gen_ai.system": "az.ai.openai"}, "openai"),
        ({"gen_ai.system": "anthropic"}, "anthropic"),
        ({"llm.model_name": "m", "llm.provider": "aws", "llm.system": "anthropic"}, "aws"),
        ({"llm.model_name": "m", "llm.system": "anthropic"}, "anthropic"),
    ],
)
def test_the_provider_follows_the_order_of_preference(attributes, provider):
    assert span_event(_span(attributes))["provider"] == provider


def test_older_numbered_prompt_and_completion_attributes_are_read():
    event = span_event(
        _span(
            {
                "gen_ai.system": "openai",
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": "Be brief.",
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": "Hi",
                "gen_ai.completion.0.content": "Hello.",
                "gen_ai.usage.prompt_tokens": 12,
                "gen_ai.usage.completion_tokens": 3.0,
            }
        )
    )
    assert event["input"] == {"prompt": "system: Be brief.\nuser: Hi"}
    assert event["output"] == {"text": "Hello."}
    assert event["usage"] == {"input_tokens": 12, "output_tokens": 3}


def test_openinference_llm_spans_are_read():
    event = span_event(
        _span(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "claude-sonnet-4-20250514",
                "input.value": "Summarise the ticket",
                "output.value": "The customer wants a refund.",
                "llm.token_count.prompt": 40,
                "llm.token_count.completion": 9,
            }
        )
    )
    assert event["input"] == {"prompt": "Summarise the ticket"}
    assert event["output"] == {"text": "The customer wants a refund."}
    assert event["usage"] == {"input_tokens": 40, "output_tokens": 9}


def test_with_content_capture_off_there_is_no_text():
    event = span_event(_span({"gen_ai.request.model": "m", "gen_ai.operation.name": "chat"}))
    assert event["input"] == {"operation": "chat"}
    assert "output" not in event


def test_the_finish_reason_is_the_first_listed_else_the_output_messages():
    messages = json.dumps([{"role": "assistant", "parts": [], "finish_reason": "tool_call"}])
    listed = {
        "gen_ai.response.finish_reasons": ["length", "stop"],
        "gen_ai.output.messages": messages,
    }
    assert span_event(_span(listed))["finish_reason"] == "length"
    assert span_event(_span({"gen_ai.output.messages": messages}))["finish_reason"] == "tool_call"


@pytest.mark.parametrize(
    ("attributes", "refused"),
    [
        ({"gen_ai.response.finish_reasons": ["content_filter"]}, True),
        (
            {
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "refusal", "content": "I can't."}]}]
                )
            },
            True,
        ),
        ({"gen_ai.response.finish_reasons": ["stop"]}, False),
        ({"gen_ai.response.finish_reasons": ["content_filter"], "failsafe.refused": False}, False),
        ({"gen_ai.response.finish_reasons": ["stop"], "failsafe.refused": True}, True),
    ],
)
def test_a_refusal_is_a_content_filter_stop_a_refusal_part_or_said_outright(attributes, refused):
    assert span_event(_span(attributes)).get("refused", False) is refused


@pytest.mark.parametrize(
    ("attributes", "failed", "error"),
    [
        ({"gen_ai.request.model": "m"}, True, "error"),
        ({"gen_ai.request.model": "m", "error.type": "timeout"}, True, "timeout"),
        ({"gen_ai.request.model": "m", "error.type": "rate_limited"}, False, "rate_limited"),
        ({"gen_ai.request.model": "m"}, False, None),
    ],
)
def test_the_error_is_the_error_type_or_the_status(attributes, failed, error):
    assert span_event(_span(attributes, failed=failed)).get("error") == error


def test_scores_come_from_evaluation_events_the_first_of_each_name():
    def result(name, value):
        return (
            "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": value},
        )

    label_only = (
        "gen_ai.evaluation.result",
        {"gen_ai.evaluation.name": "tone", "gen_ai.evaluation.score.label": "ok"},
    )
    events = [result("faithfulness", 0.4), result("faithfulness", 0.9), ("other", {}), label_only]
    event = span_event(_span({"gen_ai.request.model": "m"}, events=events))
    assert event["scores"] == {"faithfulness": 0.4}


def test_failsafe_attributes_fill_what_the_conventions_lack():
    event = span_event(
        _span(
            {
                "gen_ai.request.model": "m",
                "failsafe.subject": "customer-9",
                "failsafe.actions": ["refund_issue", "email_send"],
                "failsafe.label": "approve",
                "failsafe.input.country": "DE",
                "failsafe.input.amount": 42,
            }
        )
    )
    assert event["subject"] == "customer-9"
    assert event["actions"] == [
        {"type": "refund_issue", "subject": "customer-9"},
        {"type": "email_send", "subject": "customer-9"},
    ]
    assert event["output"] == {"label": "approve"}
    assert event["input"] == {"country": "DE", "amount": 42}


def test_output_messages_that_are_not_json_are_taken_as_the_text():
    event = span_event(_span({"gen_ai.output.messages": "plain words"}))
    assert event["output"] == {"text": "plain words"}


def test_output_messages_nested_past_any_depth_are_taken_as_the_text():
    nested = "[" * 100_000
    assert span_event(_span({"gen_ai.output.messages": nested}))["output"] == {"text": nested}


def test_an_evaluation_log_record_is_named_by_its_event_name_or_attribute():
    def record(event_name="", **attributes):
        return LogRecord(path="", span_id="ab" * 8, event_name=event_name, attributes=attributes)

    assert is_evaluation(record("gen_ai.evaluation.result"))
    assert is_evaluation(record(**{"event.name": "gen_ai.evaluation.result"}))
    assert not is_evaluation(record("gen_ai.client.inference.operation.details"))
