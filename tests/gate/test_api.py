"""POST /api/v1/systems/{slug}/gate, GET the same (the unreachable defaults) and GET a hold."""

import pytest
from django.db import DatabaseError

from gate.models import GateCounter, Hold
from gate.services import decide
from systems.models import RuntimeMode
from systems.services import token_issue
from tests.factories import ActionTypeFactory
from tests.gate.conftest import set_rule

pytestmark = pytest.mark.django_db

URL = "/api/v1/systems/refund-classifier/gate"


def post(client, raw, body, url=URL):
    return client.post(
        url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )


def test_it_allows(client, raw_token, account_hold):
    response = post(client, raw_token, {"action": "account_hold", "subject": "cus_1"})
    assert response.status_code == 200
    assert response.json() == {"decision": "allow", "reason": "Within the gate's rules."}
    counter = GateCounter.objects.get(action_type=account_hold)
    assert (counter.requests, counter.allowed) == (1, 1)
    assert not Hold.objects.exists()


def test_it_holds_and_the_system_polls_the_hold(client, system, raw_token, account_hold):
    RuntimeMode.objects.filter(system=system).update(mode="human")
    body = {"action": "account_hold", "subject": "cus_1", "event_id": "ev-9"}
    answer = post(client, raw_token, body).json()
    assert answer["decision"] == "hold" and "human mode" in answer["reason"]
    hold = Hold.objects.get(code=answer["hold_id"])
    polled = client.get(
        f"/api/v1/systems/refund-classifier/holds/{hold.code}",
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
    )
    assert polled.status_code == 200
    found = polled.json()
    assert (found["status"], found["outcome"], found["event_id"]) == ("pending", None, "ev-9")
    assert (found["action"], found["expires_to"]) == ("account_hold", "reject")


def test_it_names_the_field_of_an_unknown_action(client, raw_token, account_hold):
    response = post(client, raw_token, {"action": "delete_everything", "subject": "cus_1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "action"
    assert not GateCounter.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "cus_1"}, "action"),
        ({"action": "account_hold"}, "subject"),
        ({"action": "account_hold", "subject": "x" * 201}, "subject"),
        ({"action": ["account_hold"], "subject": "cus_1"}, "action"),
    ],
)
def test_it_refuses_bad_input_with_the_field(client, raw_token, account_hold, body, field):
    response = post(client, raw_token, body)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not GateCounter.objects.exists()
    assert not Hold.objects.exists()


def test_it_refuses_a_body_that_is_not_json(client, raw_token, account_hold):
    response = client.post(
        URL, "{oops", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw_token}"
    )
    assert response.status_code == 400
    assert "errors" in response.json()
    assert not GateCounter.objects.exists()


def test_a_database_failure_is_a_503_so_the_sdk_applies_its_default(
    client, raw_token, account_hold, monkeypatch
):
    def broken(**kwargs):
        raise DatabaseError("gone")

    monkeypatch.setattr(decide, "gate_decide", broken)
    response = post(client, raw_token, {"action": "account_hold", "subject": "cus_1"})
    assert response.status_code == 503
    assert response.json()["errors"][0]["message"]


def test_it_needs_a_token_with_the_gate_scope(client, system, owner, account_hold):
    assert post(client, "nothing", {}).status_code == 401
    _, raw = token_issue(actor=owner, system=system, name="r", scopes=["mode:read"])
    assert post(client, raw, {"action": "account_hold", "subject": "c"}).status_code == 403
    assert not GateCounter.objects.exists()


def test_a_token_reaches_only_its_own_system(client, raw_token, other_system, account_hold):
    ActionTypeFactory(system=other_system, name="send_reply")
    url = f"/api/v1/systems/{other_system.slug}/gate"
    body = {"action": "send_reply", "subject": "c"}
    assert post(client, raw_token, body, url=url).status_code == 403
    assert not GateCounter.objects.exists()


def test_people_cannot_ask_the_gate(client_for, responder, account_hold):
    response = client_for(responder).post(
        URL, {"action": "account_hold", "subject": "c"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert not GateCounter.objects.exists()


def test_it_lists_the_declared_unreachable_defaults(client, raw_token, account_hold, tag):
    set_rule(account_hold, unreachable="hold")
    set_rule(tag, unreachable="allow", always_allow=True)
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    assert response.status_code == 200
    assert response.json() == {
        "system": "refund-classifier",
        "actions": [
            {
                "action": "account_hold",
                "reversible": False,
                "unreachable": "hold",
                "always_allow": False,
            },
            {
                "action": "claim_tag",
                "reversible": True,
                "unreachable": "allow",
                "always_allow": True,
            },
        ],
    }


def test_a_hold_of_another_system_is_not_found(client, raw_token, other_system, account_hold):
    other = ActionTypeFactory(system=other_system, name="send_reply", reversible=False)
    RuntimeMode.objects.filter(system=other_system).update(mode="off")
    _, hold = decide.gate_decide(system_id=other_system.pk, action=other.name, subject="u")
    response = client.get(
        f"/api/v1/systems/refund-classifier/holds/{hold.code}",
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
    )
    assert response.status_code == 404
