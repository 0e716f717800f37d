"""The monitors page, form and API for the monitors of a generative-AI call (error share,
finish reason share, score share, token and score distributions): who may add them, the
refusals naming their field, and what the cards say."""

from datetime import UTC, datetime, timedelta

import pytest

from core.models import AuditEntry
from monitoring.models import Monitor
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create

pytestmark = pytest.mark.django_db

MONITORS = "/systems/refund-classifier/monitors/"
API = "/api/v1/systems/refund-classifier/monitors"
FORM = {"baseline_days": 7, "min_shift": 2, "window_minutes": 10, "enabled": "on"}
NEW_KINDS = [
    {"name": "Errors", "kind": "error_rate", "target": ""},
    {"name": "Timeouts", "kind": "error_rate", "target": "timeout"},
    {"name": "Cut off", "kind": "finish_reason", "target": "length"},
    {
        "name": "Unfaithful",
        "kind": "score_share",
        "target": "faithfulness",
        "threshold": 0.5,
        "below": True,
    },
    {
        "name": "Toxic",
        "kind": "score_share",
        "target": "toxicity",
        "threshold": 0.8,
        "below": False,
    },
    {"name": "Output tokens", "kind": "numeric", "target": "usage.output_tokens"},
    {"name": "Faithfulness", "kind": "numeric", "target": "scores.faithfulness"},
]
WHO = [("responder", True), ("viewer", False), ("outsider", False)]


def _saved(fields) -> tuple:
    monitor = Monitor.objects.get()
    return monitor.kind, monitor.target, monitor.threshold, monitor.below


def _expected(fields) -> tuple:
    return fields["kind"], fields["target"], fields.get("threshold"), fields.get("below", True)


@pytest.mark.parametrize("fields", NEW_KINDS, ids=lambda f: f["name"])
@pytest.mark.parametrize(("who", "allowed"), WHO)
def test_each_new_kind_is_added_on_the_page_by_a_responder_only(
    client_for, system, request, fields, who, allowed
):
    response = client_for(request.getfixturevalue(who)).post(f"{MONITORS}new/", FORM | fields)
    assert response.status_code == (302 if allowed else 403)
    if allowed:
        assert _saved(fields) == _expected(fields)
        assert AuditEntry.objects.get(verb="monitor.create").after["target"] == fields["target"]
    else:
        assert not Monitor.objects.exists()
        assert not AuditEntry.objects.filter(verb="monitor.create").exists()


@pytest.mark.parametrize("fields", NEW_KINDS, ids=lambda f: f["name"])
@pytest.mark.parametrize(("who", "allowed"), WHO)
def test_each_new_kind_is_added_through_the_api_by_a_responder_only(
    client_for, system, request, fields, who, allowed
):
    response = client_for(request.getfixturevalue(who)).post(
        API, fields, content_type="application/json"
    )
    assert response.status_code == (201 if allowed else 403)
    if allowed:
        assert _saved(fields) == _expected(fields)
        body = response.json()
        assert (body["threshold"], body["below"]) == _expected(fields)[2:]
    else:
        assert not Monitor.objects.exists()


def test_the_form_offers_the_new_kinds_and_says_what_each_watches(client_for, system, responder):
    page = client_for(responder).get(MONITORS).content.decode()
    for kind in ("error_rate", "finish_reason", "score_share"):
        assert f'value="{kind}"' in page
    assert 'name="threshold"' in page
    assert "below the threshold" in page and "above the threshold" in page
    for example in ("(faithfulness)", "(length)", "usage.output_tokens", "scores.faithfulness"):
        assert example in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "score_share", "target": "faithfulness"}, "threshold", "e.g. 0.5"),
        ({"kind": "score_share", "target": "not a name", "threshold": 0.5}, "target", "score"),
        ({"kind": "numeric", "target": "scores.not a name"}, "target", "scores.&lt;name&gt;"),
        ({"kind": "numeric", "target": "tokens"}, "target", "usage.output_tokens"),
        ({"kind": "finish_reason", "target": ""}, "target", "e.g. length"),
        ({"kind": "error_rate", "target": "x" * 101}, "target", "at most 100 characters"),
    ],
)
def test_a_refused_monitor_says_why_beside_its_field_on_the_page(
    client_for, system, responder, fields, field, message
):
    response = client_for(responder).post(f"{MONITORS}new/", FORM | {"name": "x"} | fields)
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in response.content.decode()
    assert not Monitor.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "score_share", "target": "faithfulness"}, "threshold"),
        ({"kind": "score_share", "target": "faithfulness", "threshold": "low"}, "threshold"),
        ({"kind": "score_share", "target": "faith fulness", "threshold": 0.5}, "target"),
        ({"kind": "score_share", "target": "faithfulness", "threshold": 0.5, "below": 3}, "below"),
        ({"kind": "numeric", "target": "usage.total_tokens"}, "target"),
        ({"kind": "finish_reason", "target": ""}, "target"),
    ],
)
def test_a_refused_monitor_through_the_api_is_a_400_naming_the_field(
    client_for, system, responder, fields, field
):
    response = client_for(responder).post(
        API, {"name": "x"} | fields, content_type="application/json"
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Monitor.objects.exists()


def test_a_threshold_is_kept_only_for_a_score_share(system, owner):
    monitor = monitor_create(
        actor=owner,
        system=system,
        name="Cut off",
        kind="finish_reason",
        target="length",
        threshold=0.5,
        below=False,
    )
    assert (monitor.threshold, monitor.below) == (None, True)


def _scored_hour(system):
    """1,000 judged outputs in the last hour, 48 of them below 0.5, and 500 never judged."""
    now = datetime.now(UTC) - timedelta(minutes=10)
    events = []
    for n in range(1500):
        event = {
            "id": f"e-{n}",
            "ts": (now + timedelta(seconds=n / 10)).isoformat(),
            "usage": {"output_tokens": 164},
            "finish_reason": "length" if n % 50 == 0 else "stop",
        }
        if n < 1000:
            event["scores"] = {"faithfulness": 0.2 if n < 48 else 0.9}
        events.append(event)
    events_ingest(system=system, payload={"events": events})


def test_the_cards_say_what_each_monitor_counts_and_its_value(client_for, system, owner, viewer):
    monitor_create(
        actor=owner,
        system=system,
        name="Unfaithful",
        kind="score_share",
        target="faithfulness",
        threshold=0.5,
    )
    monitor_create(
        actor=owner, system=system, name="Cut off", kind="finish_reason", target="length"
    )
    monitor_create(
        actor=owner, system=system, name="Tokens", kind="numeric", target="usage.output_tokens"
    )
    _scored_hour(system)
    page = client_for(viewer).get(MONITORS).content.decode()
    assert "faithfulness below 0.5: 4.8% of scored outputs" in page
    assert "finish reason length: 2.0% of outputs" in page
    assert "usage.output_tokens: mean 192" in page
    assert "No events in this window yet." not in page
    assert page.count("<polyline") == 3


# What each card says over `_scored_hour`'s traffic.
SAYS = {
    "Errors": "errors: 0.0% of outputs",
    "Timeouts": "timeout errors: 0.0% of outputs",
    "Cut off": "finish reason length: 2.0% of outputs",
    "Unfaithful": "faithfulness below 0.5: 4.8% of scored outputs",
    "Toxic": "toxicity above 0.8: nothing to count in this window",
    "Output tokens": "usage.output_tokens: mean 192",  # 164 is in the bin [128, 256)
    "Faithfulness": "scores.faithfulness: mean 0.92",  # 48 in [0.2, 0.3), 952 in [0.9, 1]
}


@pytest.mark.parametrize("fields", NEW_KINDS, ids=lambda f: f["name"])
def test_the_page_of_each_new_kind_says_what_it_counts(client_for, system, owner, viewer, fields):
    monitor = monitor_create(actor=owner, system=system, **fields)
    _scored_hour(system)
    response = client_for(viewer).get(f"{MONITORS}{monitor.pk}/")
    assert response.status_code == 200
    assert SAYS[fields["name"]] in response.content.decode()
    assert ("<polyline" in response.content.decode()) == (fields["name"] != "Toxic")
