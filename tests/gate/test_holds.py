"""People's decisions on held actions, and their expiry to the declared outcome."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied

from core.models import AuditEntry
from gate.errors import GateError
from gate.models import Hold
from gate.selectors import holds_filtered
from gate.services.decide import gate_decide
from gate.services.holds import holds_decide
from gate.services.sweep import gate_sweep, holds_expire_due
from incidents.models import TimelineEntry
from response.blast_radius import blast_radius
from systems.models import RuntimeMode
from tests.factories import ActionTypeFactory, IncidentFactory
from tests.gate.conftest import NOW, set_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(ask, system, account_hold):
    """Five holds of account_hold while the system is in human mode."""
    RuntimeMode.objects.filter(system=system).update(mode="human")
    return [ask(subject=f"cus_{i}")[1] for i in range(5)]


def test_a_responder_rejects_one_hold_with_a_reason(held, responder):
    n = holds_decide(
        actor=responder,
        holds=Hold.objects.filter(pk=held[0].pk),
        outcome="reject",
        reason="A real customer.",
    )
    assert n == 1
    hold = Hold.objects.get(pk=held[0].pk)
    assert (hold.status, hold.decided_by, hold.decision_reason) == (
        "rejected",
        responder,
        "A real customer.",
    )
    entry = AuditEntry.objects.get(verb="hold.reject")
    assert (entry.actor, entry.target_id, entry.reason) == (
        responder,
        str(hold.pk),
        "A real customer.",
    )
    assert Hold.objects.filter(status="pending").count() == 4


def test_a_responder_approves_in_bulk_and_only_pending_ones_change(held, responder):
    holds_decide(
        actor=responder, holds=Hold.objects.filter(pk=held[0].pk), outcome="reject", reason="No."
    )
    n = holds_decide(
        actor=responder, holds=Hold.objects.all(), outcome="approve", reason="Checked: fraud."
    )
    assert n == 4
    assert Hold.objects.filter(status="approved").count() == 4
    assert Hold.objects.get(pk=held[0].pk).status == "rejected"
    assert AuditEntry.objects.filter(verb="hold.approve").count() == 4


def test_a_second_decision_on_the_same_holds_changes_nothing(held, responder, lead):
    everything = Hold.objects.all()
    assert holds_decide(actor=responder, holds=everything, outcome="reject", reason="a")
    assert not holds_decide(actor=lead, holds=everything, outcome="approve", reason="b")
    assert Hold.objects.filter(status="rejected").count() == 5


def test_a_decision_needs_a_reason_and_an_outcome(held, responder):
    with pytest.raises(GateError) as refused:
        holds_decide(actor=responder, holds=Hold.objects.all(), outcome="reject", reason="")
    assert refused.value.field == "reason"
    with pytest.raises(GateError):
        holds_decide(actor=responder, holds=Hold.objects.all(), outcome="maybe", reason="x")


@pytest.mark.parametrize("who", ["viewer", "owner", "outsider", "reviewer"])
def test_only_responders_and_above_decide(held, who, request):
    person = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        holds_decide(actor=person, holds=Hold.objects.all(), outcome="reject", reason="x")


def test_bulk_filters_by_system_action_and_incident_window(
    ask, system, other_system, account_hold, responder
):
    refund_tag = ActionTypeFactory(system=system, name="refund_issue", reversible=False)
    reply = ActionTypeFactory(system=other_system, name="send_reply", reversible=False)
    RuntimeMode.objects.filter(system__in=[system, other_system]).update(mode="off")
    incident = IncidentFactory(
        severity="SEV2",
        systems=[system],
        onset_at=NOW - timedelta(minutes=5),
        declared_at=NOW - timedelta(minutes=4),
        contained_at=NOW + timedelta(minutes=5),
    )
    ask(at=NOW - timedelta(minutes=10))  # before the onset
    ask(), ask(subject="cus_2")
    ask(action=refund_tag.name)
    gate_decide(system_id=other_system.pk, action=reply.name, subject="u", now=NOW)

    assert holds_filtered(system=system.slug).count() == 4
    assert holds_filtered(action="account_hold").count() == 3
    in_window = holds_filtered(incident=incident, action="account_hold")
    assert in_window.count() == 2
    n = holds_decide(
        actor=responder, holds=in_window, outcome="reject", reason="Bad prompt, not fraud."
    )
    assert n == 2
    assert Hold.objects.filter(status="pending").count() == 3
    # One line on the incident's timeline for the lot.
    entry = TimelineEntry.objects.get(incident=incident, kind="gate")
    assert entry.text == "2 held account_hold actions rejected: Bad prompt, not fraud."
    assert entry.actor == responder


def test_holds_expire_to_their_declared_outcome(ask, system, account_hold, tag):
    set_rule(account_hold, hold_minutes=10, expire_to="reject")
    set_rule(tag, hold_minutes=30, expire_to="approve")
    RuntimeMode.objects.filter(system=system).update(mode="degraded")
    first, _ = ask()[1], ask(action="claim_tag")[1]
    assert holds_expire_due(NOW + timedelta(minutes=9)) == 0
    assert holds_expire_due(NOW + timedelta(minutes=10)) == 1
    first.refresh_from_db()
    assert (first.status, first.expired, first.decided_by) == ("rejected", True, None)
    assert gate_sweep(NOW + timedelta(minutes=31))["expired"] == 1
    tagged = Hold.objects.get(action_type=tag)
    assert (tagged.status, tagged.expired) == ("approved", True)
    entries = AuditEntry.objects.filter(verb="hold.expire")
    assert entries.count() == 2 and {e.actor_label for e in entries} == {"failsafe"}
    # Expiry claims once: a second sweep finds nothing.
    assert holds_expire_due(NOW + timedelta(minutes=40)) == 0


def test_a_decided_hold_does_not_expire(held, responder):
    holds_decide(actor=responder, holds=Hold.objects.all(), outcome="approve", reason="ok")
    assert holds_expire_due(NOW + timedelta(days=1)) == 0
    assert not Hold.objects.filter(expired=True).exists()


def test_the_blast_radius_counts_what_the_gate_stopped(ask, system, account_hold, responder):
    incident = IncidentFactory(
        severity="SEV2", systems=[system], onset_at=NOW - timedelta(minutes=1)
    )
    holds = [ask(subject=f"cus_{i}")[1] for i in range(4)]
    holds_decide(
        actor=responder,
        holds=Hold.objects.filter(pk__in=[h.pk for h in holds[:3]]),
        outcome="reject",
        reason="Not fraud.",
    )
    radius = blast_radius(incident, now=NOW + timedelta(minutes=1))
    assert radius["stopped"]["total"] == 4
    (row,) = radius["stopped"]["actions"]
    assert (row["type"], row["held"], row["rejected"], row["pending"]) == ("account_hold", 4, 3, 1)
