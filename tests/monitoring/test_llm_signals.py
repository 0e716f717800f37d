"""What a generative-AI call adds to an event (evaluator scores, error type, finish reason,
token usage, provider): accepted and stored by the event API, refused with the index and
field when wrong (nothing stored), and counted in the rollups the monitors read."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from monitoring import rollups
from monitoring.models import Event, Rollup
from monitoring.services.monitors import monitor_create
from systems.services import token_issue

pytestmark = pytest.mark.django_db

URL = "/api/v1/systems/refund-classifier/events"
START = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)


def _event(n, **changes):
    event = {
        "id": f"e-{n}",
        "ts": (START + timedelta(seconds=n / 4)).isoformat(),
        "output": {"text": "Your refund is on its way."},
        "scores": {"faithfulness": (n % 10) / 10 + 0.05, "toxicity": 0.01},
        "error": ["", "", "timeout", "rate_limited"][n % 4],
        "finish_reason": "length" if n % 5 == 0 else "stop",
        "usage": {"input_tokens": 800 + n, "output_tokens": 40 + 7 * n},
        "provider": "openai",
    }
    event.update(changes)
    return event


@pytest.fixture
def token(system):
    return token_issue(actor=None, system=system, name="t", scopes=["events:write"])[1]


def _send(client, token, events):
    return client.post(
        URL,
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_an_event_keeps_its_scores_error_finish_reason_usage_and_provider(client, token):
    response = _send(client, token, [_event(2)])
    assert response.status_code == 202
    stored = Event.objects.get()
    assert stored.scores == {"faithfulness": 0.25, "toxicity": 0.01}
    assert (stored.error, stored.finish_reason, stored.provider) == ("timeout", "stop", "openai")
    assert (stored.input_tokens, stored.output_tokens) == (802, 54)


def test_each_new_field_is_optional_and_null_means_none(client, token):
    nothing = {"id": "bare", "ts": START.isoformat()}
    nulls = dict(
        nothing, id="nulls", scores=None, error=None, finish_reason=None, usage=None, provider=None
    )
    half = dict(nothing, id="half", usage={"input_tokens": 12})
    assert _send(client, token, [nothing, nulls, half]).status_code == 202
    rows = Event.objects.order_by("client_id").values_list(
        "client_id", "scores", "error", "finish_reason", "input_tokens", "output_tokens", "provider"
    )
    assert list(rows) == [
        ("bare", {}, "", "", None, None, ""),
        ("half", {}, "", "", 12, None, ""),
        ("nulls", {}, "", "", None, None, ""),
    ]
    # None of them has an error, a finish reason, tokens or a score to count.
    assert set(Rollup.objects.values_list("signal", flat=True)) == {"events", "usage.input_tokens"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scores": {"toxicity": "low"}}, "scores.toxicity"),
        ({"scores": {"toxicity": True}}, "scores.toxicity"),
        ({"scores": {"toxicity": None}}, "scores.toxicity"),
        ({"scores": {"toxicity": 10**400}}, "scores.toxicity"),  # beyond any float
        ({"scores": {"not a name": 0.5}}, "scores"),
        ({"scores": {"x" * 65: 0.5}}, "scores"),
        ({"scores": {f"s{n}": 0.5 for n in range(21)}}, "scores"),
        ({"scores": [0.5]}, "scores"),
        ({"usage": {"output_tokens": -1}}, "usage.output_tokens"),
        ({"usage": {"output_tokens": 12.5}}, "usage.output_tokens"),
        ({"usage": {"input_tokens": "812"}}, "usage.input_tokens"),
        ({"usage": {"input_tokens": True}}, "usage.input_tokens"),
        ({"usage": {"output_tokens": 10**10}}, "usage.output_tokens"),
        ({"usage": {"cached_tokens": 3}}, "usage.cached_tokens"),
        ({"usage": [812, 164]}, "usage"),
        ({"error": "x" * 101}, "error"),
        ({"error": "time\x00out"}, "error"),
        ({"error": 500}, "error"),
        ({"error": False}, "error"),
        ({"finish_reason": "x" * 41}, "finish_reason"),
        ({"finish_reason": "stop\x00"}, "finish_reason"),
        ({"provider": ["openai"]}, "provider"),
        ({"provider": "x" * 65}, "provider"),
        ({"output": {"score": 10**400}}, "output.score"),
    ],
)
def test_each_bad_value_is_a_400_naming_its_event_and_field_and_nothing_is_stored(
    client, token, change, field
):
    response = _send(client, token, [_event(0), _event(1, **change), _event(2)])
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, field)]
    assert not Event.objects.exists()
    assert not Rollup.objects.exists()


def test_every_bad_score_of_an_event_is_named(client, token):
    scores = {"faithfulness": "high", "toxicity": float("inf"), "relevance": 0.4}
    response = _send(client, token, [_event(0, scores=scores)])
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [
        "scores.faithfulness",
        "scores.toxicity",
    ]


def test_twenty_scores_are_allowed(client, token):
    scores = {f"judge.{n}": n / 20 for n in range(20)}
    assert _send(client, token, [_event(0, scores=scores)]).status_code == 202
    assert Event.objects.get().scores == scores


def _recount(thresholds) -> Counter:
    """What the rollups should hold for the stored events, counted again by hand."""
    recount: Counter = Counter()
    for event in Event.objects.all():
        bucket = rollups.bucket_of(event.ts, 5)
        where = rollups.served_key(event.served, event.versions)
        if event.error:
            recount[bucket, "error", "", where] += 1
            recount[bucket, "error", event.error, where] += 1
        recount[bucket, "finish", event.finish_reason, where] += 1
        recount[bucket, "usage.input_tokens", rollups.number_bin(event.input_tokens), where] += 1
        recount[bucket, "usage.output_tokens", rollups.number_bin(event.output_tokens), where] += 1
        for name, value in event.scores.items():
            recount[bucket, f"scores.{name}", rollups.evaluation_bin(value), where] += 1
        for pk, (name, threshold, below) in thresholds.items():
            if name in event.scores:
                recount[bucket, f"scored:{pk}", "", where] += 1
                value = event.scores[name]
                if (value < threshold) if below else (value > threshold):
                    recount[bucket, f"score_share:{pk}", "", where] += 1
    return recount


def test_rollups_count_errors_finish_reasons_tokens_scores_and_score_shares(
    client, token, system, owner, settings
):
    settings.FAILSAFE_ROLLUP_SECONDS = 5
    low = monitor_create(
        actor=owner,
        system=system,
        name="Unfaithful",
        kind="score_share",
        target="faithfulness",
        threshold=0.5,
    )
    toxic = monitor_create(
        actor=owner,
        system=system,
        name="Toxic",
        kind="score_share",
        target="toxicity",
        threshold=0.005,
        below=False,
    )
    batch = [_event(n) for n in range(400)]
    for event in batch[::3]:
        del event["scores"]["faithfulness"]  # not every output is judged for faithfulness
    assert _send(client, token, batch[:250]).status_code == 202
    assert _send(client, token, batch[200:]).status_code == 202  # 50 duplicates add nothing

    stored = Counter(
        {
            (r.bucket, r.signal, r.key, r.served): r.n
            for r in Rollup.objects.exclude(signal__in=["events", "length"])
        }
    )
    thresholds = {low.pk: ("faithfulness", 0.5, True), toxic.pk: ("toxicity", 0.005, False)}
    assert stored == _recount(thresholds)
    totals: Counter = Counter()
    for (_, signal, key, _), n in stored.items():
        totals[signal, key] += n
    assert totals["error", ""] == 200  # timeouts and rate limits, half of the 400
    assert (totals["error", "timeout"], totals["error", "rate_limited"]) == (100, 100)
    assert (totals["finish", "length"], totals["finish", "stop"]) == (80, 320)
    assert totals["scored", ""] == 0  # a score share's count carries its monitor's id
    assert totals[f"scored:{low.pk}", ""] == 266  # the events judged for faithfulness
    assert totals[f"score_share:{low.pk}", ""] == 133  # of which faithfulness below 0.5
    assert totals[f"scored:{toxic.pk}", ""] == totals[f"score_share:{toxic.pk}", ""] == 400
