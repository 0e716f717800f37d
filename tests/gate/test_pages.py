"""The held-actions queue and the gate rules page: who may see and do what."""

import pytest

from core.models import AuditEntry
from gate.models import GateRule, Hold
from systems.models import ActionType, RuntimeMode

pytestmark = pytest.mark.django_db

HOLDS = "/holds/"
RULES = "/systems/refund-classifier/gate/"


@pytest.fixture
def held(ask, system, account_hold):
    RuntimeMode.objects.filter(system=system).update(mode="off")
    return [ask(subject=f"cus_{i}")[1] for i in range(3)]


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("viewer", 200), ("responder", 200), ("outsider", 403)]
)
def test_the_queue_and_the_rules_are_for_people_with_a_role(client_for, held, request, who, status):
    client = client_for(request.getfixturevalue(who))
    assert client.get(HOLDS).status_code == status
    assert client.get(f"{HOLDS}summary/").status_code == status
    assert client.get(RULES).status_code == status


def test_the_queue_lists_held_actions_escaped(client_for, ask, system, account_hold, responder):
    RuntimeMode.objects.filter(system=system).update(mode="off")
    ask(subject="<script>alert(1)</script>")
    page = client_for(responder).get(HOLDS).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert 'name="holds"' in page  # a responder gets the checkboxes


def test_a_viewer_sees_the_queue_without_the_controls(client_for, held, viewer):
    page = client_for(viewer).get(HOLDS).content.decode()
    assert "cus_1" in page and 'name="holds"' not in page


@pytest.mark.parametrize(("who", "decided"), [("responder", 2), ("owner", 0), ("viewer", 0)])
def test_responders_decide_selected_holds_and_others_cannot(
    client_for, held, request, who, decided
):
    client = client_for(request.getfixturevalue(who))
    response = client.post(
        f"{HOLDS}decide/",
        {
            "holds": [str(held[0].code), str(held[1].code)],
            "scope": "selected",
            "outcome": "reject",
            "reason": "Not fraud.",
        },
    )
    assert response.status_code == (302 if decided else 403)
    assert Hold.objects.filter(status="rejected").count() == decided


def test_a_responder_rejects_every_matching_hold(client_for, held, responder):
    response = client_for(responder).post(
        f"{HOLDS}decide/",
        {"scope": "matching", "system": "refund-classifier", "outcome": "reject", "reason": "x"},
        follow=True,
    )
    assert "Rejected 3 held actions." in response.content.decode()
    assert AuditEntry.objects.filter(verb="hold.reject").count() == 3


def test_a_decision_without_a_reason_changes_nothing(client_for, held, responder):
    client_for(responder).post(
        f"{HOLDS}decide/", {"scope": "matching", "outcome": "reject", "reason": ""}
    )
    assert not Hold.objects.exclude(status="pending").exists()


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 302), ("responder", 302), ("viewer", 403), ("outsider", 403)]
)
def test_the_owner_and_responders_set_rules_and_others_cannot(
    client_for, account_hold, request, who, status
):
    client = client_for(request.getfixturevalue(who))
    response = client.post(
        f"{RULES}account_hold/",
        {
            "account_hold-breaker_factor": "4",
            "account_hold-breaker_floor": "10",
            "account_hold-window_seconds": "60",
            "account_hold-cap": "100",
            "account_hold-over_cap": "deny",
            "account_hold-unreachable": "allow",
            "account_hold-hold_minutes": "30",
            "account_hold-expire_to": "approve",
            "account_hold-reason": "Fraud holds come in bursts of ten.",
        },
    )
    assert response.status_code == status
    if status == 302:
        rule = GateRule.objects.get(action_type=account_hold)
        assert (rule.breaker_factor, rule.cap, rule.unreachable) == (4, 100, "allow")
        entry = AuditEntry.objects.get(verb="gate.rule_set")
        assert entry.after["cap"] == 100 and entry.before["cap"] is None
        assert entry.reason == "Fraud holds come in bursts of ten."
    else:
        assert not GateRule.objects.exists()


def test_an_irreversible_action_cannot_be_always_allowed(client_for, account_hold, owner):
    response = client_for(owner).post(
        f"{RULES}account_hold/",
        {
            "account_hold-breaker_factor": "5",
            "account_hold-breaker_floor": "20",
            "account_hold-window_seconds": "60",
            "account_hold-over_cap": "hold",
            "account_hold-always_allow": "on",
            "account_hold-unreachable": "hold",
            "account_hold-hold_minutes": "60",
            "account_hold-expire_to": "reject",
        },
    )
    assert response.status_code == 400
    assert "cannot be always allowed" in response.content.decode()
    assert not GateRule.objects.filter(always_allow=True).exists()
    assert not AuditEntry.objects.filter(verb="gate.rule_set").exists()


def test_the_owner_closes_an_open_breaker(client_for, ask, account_hold, owner):
    from tests.gate.conftest import set_rule

    set_rule(account_hold, breaker_floor=1)
    ask(), ask()
    client = client_for(owner)
    assert "breaker open since" in client.get(RULES).content.decode()
    response = client.post(f"{RULES}account_hold/reset/", {"reason": "Prompt rolled back."})
    assert response.status_code == 302
    assert GateRule.objects.get(action_type=account_hold).tripped_at is None


def test_the_system_page_links_to_its_gate(client_for, system, viewer):
    assert RULES in client_for(viewer).get("/systems/refund-classifier/").content.decode()


def test_the_demo_seeds_gate_rules_for_the_refund_classifiers_irreversible_actions():
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")
    rules = {r.action_type.name: r for r in GateRule.objects.select_related("action_type")}
    irreversible = ActionType.objects.filter(system__slug="refund-classifier", reversible=False)
    assert set(rules) == set(irreversible.values_list("name", flat=True))
    assert {"account_hold", "refund_issue"} <= set(rules)
    assert (rules["account_hold"].cap, rules["account_hold"].unreachable) == (200, "hold")
    assert AuditEntry.objects.filter(verb="gate.rule_set").count() == len(rules)
