"""Real spans from the OpenTelemetry SDK, through its own OTLP/HTTP exporter (protobuf), to
a live Failsafe: generative-AI calls become events and rollups, other spans are skipped
and counted, and a resent batch stores nothing twice."""

import json

import pytest
from django.db.models import Sum
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from monitoring import rollups
from monitoring.models import Event, Rollup
from rollbacks.models import Version
from telemetry.models import OtlpIntake

pytestmark = pytest.mark.usefixtures("transactional_db")

CALLS = [
    # (faithfulness, output tokens, finish reason)
    (0.91, 164, "stop"),
    (0.35, 40, "length"),
    (0.78, 300, "stop"),
]


def _call(tracer, n: int, faithfulness: float, tokens: int, finish: str) -> None:
    """One chat completion, instrumented as the GenAI semantic conventions say."""
    with tracer.start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.finish_reasons": [finish],
                "gen_ai.usage.input_tokens": 812,
                "gen_ai.usage.output_tokens": tokens,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": f"Order {n}?"}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": f"Refund {n} approved."}],
                            "finish_reason": finish,
                        }
                    ]
                ),
            }
        )
        span.add_event(
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": "faithfulness",
                "gen_ai.evaluation.score.value": faithfulness,
            },
        )


@pytest.fixture(params=["live_server", "asgi_server"])
def sent(request, system, token):
    """Three chat spans and one database span, exported as they end, to the WSGI live
    server and to uvicorn running the ASGI application (as in production); the exporter
    and the spans."""
    server = request.getfixturevalue(request.param)
    base = server if isinstance(server, str) else server.url
    Version.objects.create(
        system=system,
        surface="model",
        number=4,
        content={"provider": "openai", "name": "gpt-4o", "version_id": "gpt-4o-2024-08-06"},
        created_by_label="test",
    )
    exporter = OTLPSpanExporter(
        endpoint=f"{base}/otlp/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    kept = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": system.slug}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("refund-service")
    for n, (faithfulness, tokens, finish) in enumerate(CALLS):
        _call(tracer, n, faithfulness, tokens, finish)
    with tracer.start_as_current_span("SELECT orders") as span:
        span.set_attribute("db.system", "postgresql")
        span.set_status(Status(StatusCode.ERROR))
    yield exporter, kept.get_finished_spans()
    provider.shutdown()


def test_sdk_spans_become_events_with_their_generative_ai_fields(sent, system):
    _, spans = sent
    events = {event.client_id: event for event in Event.objects.filter(system=system)}
    chats = [span for span in spans if span.name.startswith("chat")]
    assert set(events) == {format(span.context.span_id, "016x") for span in chats}
    for span, (faithfulness, tokens, finish) in zip(chats, CALLS, strict=True):
        event = events[format(span.context.span_id, "016x")]
        assert event.versions == {"model": "gpt-4o-2024-08-06"}
        assert event.served == {"model": 4}
        assert event.provider == "openai"
        assert event.finish_reason == finish
        assert (event.input_tokens, event.output_tokens) == (812, tokens)
        assert event.scores == {"faithfulness": faithfulness}
        assert event.text.startswith("Refund ")
        assert event.input["prompt"].startswith("user: Order ")
        assert event.error == ""
        assert abs(event.ts.timestamp() - span.end_time / 1e9) < 0.001


def test_sdk_spans_are_counted_in_the_rollups(sent, system):
    def cells(signal):
        # Summed over buckets: the three calls may straddle a bucket boundary.
        return dict(
            Rollup.objects.filter(system=system, signal=signal)
            .values_list("key")
            .annotate(total=Sum("n"))
            .values_list("key", "total")
        )

    assert cells("scores.faithfulness") == {"0.3": 1, "0.7": 1, "0.9": 1}
    assert cells("usage.output_tokens") == {
        rollups.number_bin(164): 1,
        rollups.number_bin(40): 1,
        rollups.number_bin(300): 1,
    }
    assert cells("finish") == {"length": 1, "stop": 2}
    assert sum(cells("events").values()) == 3


def test_a_span_that_is_no_generative_ai_call_is_skipped_and_counted(sent, system):
    intake = OtlpIntake.objects.get(system=system)
    assert (intake.spans_accepted, intake.spans_skipped, intake.spans_rejected) == (3, 1, 0)
    assert not Event.objects.filter(error="error").exists()


def test_resending_the_same_spans_stores_nothing_twice(sent, system):
    exporter, spans = sent

    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS

    assert Event.objects.filter(system=system).count() == 3
    assert sum(Rollup.objects.filter(signal="events").values_list("n", flat=True)) == 3
    assert sum(Rollup.objects.filter(signal="scores.faithfulness").values_list("n", flat=True)) == 3
    intake = OtlpIntake.objects.get(system=system)
    assert (intake.spans_accepted, intake.spans_duplicate, intake.spans_skipped) == (3, 6, 3)
