"""The simulated support drafter reports through the OpenTelemetry SDK's own OTLP/HTTP
exporter: each reply a span with the generative-AI conventions, which Failsafe's receiver
(uvicorn in a thread, PostgreSQL) stores as the event it was, resolved to the served
versions, with its score counted for the faithfulness monitor."""

import json
import re
import time
from datetime import datetime

import pytest
from django.core.management import call_command
from django.db import connection

from monitoring.models import Event, Monitor, Rollup
from monitoring.otel_drafter import DrafterTelemetry, evaluations, span_attributes, span_times
from monitoring.services.monitors import monitor_create
from monitoring.simulator import SUPPORT, Simulator
from rollbacks.services import version_add, version_deploy
from systems.services import token_issue
from tests.factories import AISystemFactory

MODEL = {"provider": "openai", "name": "gpt-4o-mini", "version_id": "gpt-4o-mini-2024-07-18"}


def replies(count, start=None, scenario="none", shift_at=None):
    simulator = Simulator(
        SUPPORT,
        seed=4,
        versions={"model": MODEL["version_id"], "prompt": "2"},
        scenario=scenario,
        shift_at=shift_at,
    )
    start = time.time() - count / 10 if start is None else start
    return simulator.events(start, count, rate=10)


def first(events, predicate):
    return next(e for e in events if predicate(e))


# What a span says, without a server.


def test_a_reply_is_a_chat_span_naming_the_served_model_and_prompt():
    events = replies(400)
    event = first(events, lambda e: "scores" in e)

    attributes = span_attributes(event, prompt_name="support-reply")

    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"]
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini-2024-07-18"
    assert (attributes["gen_ai.prompt.name"], attributes["gen_ai.prompt.version"]) == (
        "support-reply",
        "2",
    )
    assert attributes["gen_ai.usage.output_tokens"] == event["usage"]["output_tokens"]
    assert attributes["gen_ai.response.finish_reasons"] == [event["finish_reason"]]
    [message] = json.loads(attributes["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "text", "content": event["output"]["text"]}]
    assert json.loads(attributes["gen_ai.input.messages"])[0]["role"] == "user"
    assert attributes["failsafe.actions"] == ["send_reply"]
    assert attributes["failsafe.subject"] == event["subject"]
    assert attributes["failsafe.refused"] is False
    assert attributes["failsafe.input.topic"] == event["input"]["topic"]
    assert evaluations(event) == [
        {
            "gen_ai.evaluation.name": "faithfulness",
            "gen_ai.evaluation.score.value": event["scores"]["faithfulness"],
        }
    ]
    start, end = span_times(event)
    assert end == round(datetime.fromisoformat(event["ts"]).timestamp() * 1e9)
    assert 0.35e9 < end - start < 5e9


def test_a_failed_call_names_its_error_and_has_no_answer():
    event = first(replies(2000), lambda e: "error" in e)

    attributes = span_attributes(event)

    assert attributes["error.type"] == event["error"]
    assert "gen_ai.output.messages" not in attributes
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["failsafe.actions"] == []
    assert evaluations(event) == []


# Through the real exporter to the real receiver.


@pytest.fixture
def drafter(asgi_server, owner):
    system = AISystemFactory(slug="support-reply", name="Support reply drafter", owner=owner)
    for surface, content in (
        ("model", MODEL),
        ("prompt", {"name": "support-reply", "template": "Answer."}),
        ("prompt", {"name": "support-reply", "template": "Answer directly."}),
    ):
        version_deploy(
            actor=owner,
            version=version_add(actor=owner, system=system, surface=surface, content=content),
            reason="test",
        )
    return system


def test_the_drafters_spans_are_stored_as_its_events_and_count_for_its_score_monitor(
    asgi_server, drafter, owner
):
    monitor = monitor_create(
        actor=owner,
        system=drafter,
        name="Faithfulness below 0.5",
        kind=Monitor.Kind.SCORE_SHARE,
        target="faithfulness",
        threshold=0.5,
        below=True,
    )
    _, token = token_issue(actor=owner, system=drafter, name="drafter", scopes=["events:write"])
    events = replies(600)
    telemetry = DrafterTelemetry(asgi_server, token, drafter.slug)
    try:
        telemetry.report(events, prompt_name="support-reply")
        assert telemetry.flush(timeout_seconds=30)
    finally:
        telemetry.close()

    stored = list(Event.objects.filter(system=drafter))
    assert len(stored) == 600
    assert all(re.fullmatch(r"[0-9a-f]{16}", e.client_id) for e in stored)  # the span ids
    # Events are 0.1 s apart; a span's nanoseconds are stored to the microsecond.
    by_time = {round(e.ts.timestamp(), 3): e for e in stored}
    for event in events:
        row = by_time[round(datetime.fromisoformat(event["ts"]).timestamp(), 3)]
        assert row.served == {"model": 1, "prompt": 2}
        assert row.scores == event.get("scores", {})
        assert row.error == event.get("error", "")
        assert row.finish_reason == event.get("finish_reason", "")
        assert (row.input_tokens, row.output_tokens) == (
            event["usage"]["input_tokens"],
            event["usage"].get("output_tokens"),
        )
        assert row.provider == "openai"
        assert row.text == event["output"]["text"]
        assert row.refused == event["refused"]
        assert row.actions == event["actions"]
        assert row.input["topic"] == event["input"]["topic"]
    low = sum(e["scores"]["faithfulness"] < 0.5 for e in events if "scores" in e)
    counted = Rollup.objects.filter(system=drafter, signal=f"score_share:{monitor.pk}")
    assert sum(counted.values_list("n", flat=True)) == low > 0


def test_the_simulated_drafter_reports_spans_when_given_failsafes_address(
    asgi_server, drafter, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    try:
        call_command(
            "simulate",
            system=drafter.slug,
            scenario="faithfulness-drift",
            bad="prompt:2",
            url=asgi_server,
            rate=40,
            backfill_hours=0,
            duration=3,
        )
    finally:
        connection.close()

    stored = Event.objects.filter(system=drafter)
    assert 80 <= stored.count() <= 130
    assert all(re.fullmatch(r"[0-9a-f]{16}", e.client_id) for e in stored)
    assert set(stored.values_list("provider", flat=True)) == {"openai"}
    assert {tuple(sorted(s.items())) for s in stored.values_list("served", flat=True)} == {
        (("model", 1), ("prompt", 2))
    }
    assert stored.exclude(scores={}).count() > 50
