"""Evaluation results sent as log records on /otlp/v1/logs: each adds its score to the
span's stored event once, counted in that event's rollup bucket; a resent one counts once."""

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from monitoring.models import Event, Rollup
from monitoring.services.monitors import monitor_create
from telemetry.models import OtlpIntake
from tests.telemetry.otlp_bodies import (
    LOGS,
    TRACES,
    chat,
    evaluation_log,
    logs_body,
    post_bytes,
    post_json,
    protobuf_of,
    span_id,
    traces_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def monitor(system, owner):
    return monitor_create(
        actor=owner,
        system=system,
        name="Unfaithful answers",
        kind="score_share",
        target="faithfulness",
        threshold=0.5,
        below=True,
    )


@pytest.fixture
def stored(client, system, token, monitor):
    """Two chat spans already stored, one already scored for relevance."""
    first, second = span_id(), span_id()
    scored = chat(
        second,
        events=[
            (
                "gen_ai.evaluation.result",
                {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.6},
            )
        ],
    )
    assert post_json(client, TRACES, traces_body(chat(first), scored), token).status_code == 200
    return first, second


def _cells(signal):
    return dict(Rollup.objects.filter(signal=signal).values_list("key", "n"))


def _scores():
    return dict(Event.objects.values_list("client_id", "scores"))


def test_evaluation_results_add_their_scores_to_the_stored_events(client, token, stored, monitor):
    first, second = stored
    body = logs_body(
        evaluation_log(first, "faithfulness", 0.2),
        evaluation_log(first, "relevance", 0.9, in_attribute=True),
        # A second result of the same name for the same span: the first one counts.
        evaluation_log(first, "faithfulness", 0.8),
        evaluation_log(second, "faithfulness", 0.7),
        evaluation_log(second, "relevance", 0.1),  # already scored: kept as it was
        {"eventName": "app.log", "body": {"stringValue": "a plain log line"}},
    )

    answer = post_json(client, LOGS, body, token)

    assert answer.status_code == 200
    assert (
        "1 log record without an evaluation score was skipped."
        in (answer.json()["partialSuccess"]["errorMessage"])
    )
    assert _scores() == {
        first: {"faithfulness": 0.2, "relevance": 0.9},
        second: {"relevance": 0.6, "faithfulness": 0.7},
    }
    assert _cells("scores.faithfulness") == {"0.2": 1, "0.7": 1}
    assert _cells("scores.relevance") == {"0.6": 1, "0.9": 1}
    assert _cells(f"score_share:{monitor.pk}") == {"": 1}
    # The late scores land in their events' bucket, with what served them.
    event_cell = Rollup.objects.get(signal="events", key="")
    late_cell = Rollup.objects.get(signal=f"score_share:{monitor.pk}")
    assert (late_cell.bucket, late_cell.served) == (event_cell.bucket, event_cell.served)
    assert OtlpIntake.objects.get().scores_added == 3


def test_a_resent_evaluation_result_is_counted_once(client, token, stored, monitor):
    first, _ = stored
    body = protobuf_of(
        logs_body(evaluation_log(first, "faithfulness", 0.2)), ExportLogsServiceRequest
    )

    for _ in range(2):
        answer = post_bytes(client, LOGS, body, token)
        assert answer.status_code == 200
        assert not ExportLogsServiceResponse.FromString(answer.content).HasField("partial_success")

    assert _scores()[first] == {"faithfulness": 0.2}
    assert _cells("scores.faithfulness") == {"0.2": 1}
    assert _cells(f"score_share:{monitor.pk}") == {"": 1}
    assert OtlpIntake.objects.get().scores_added == 1


def test_an_evaluation_result_for_a_span_not_received_is_rejected(client, token, stored):
    first, _ = stored
    unknown = span_id()
    body = logs_body(
        evaluation_log(unknown, "faithfulness", 0.4),
        evaluation_log(first, "faith fulness", 0.4),
        evaluation_log(first, "faithfulness", "high"),
        evaluation_log(first, "toxicity", 0.01),
    )

    answer = post_json(client, LOGS, body, token)

    partial = answer.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 3
    assert f"no span {unknown} has been received" in partial["errorMessage"]
    assert "logRecords[1]: gen_ai.evaluation.name" in partial["errorMessage"]
    assert (
        "logRecords[2]: gen_ai.evaluation.score.value: a finite number" in partial["errorMessage"]
    )
    assert _scores()[first] == {"toxicity": 0.01}
    assert OtlpIntake.objects.get().log_records_rejected == 3
