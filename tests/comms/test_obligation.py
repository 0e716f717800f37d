"""The communication obligation: what each severity owes once users were reached, and what
clears it (a publication, the lead's waiver, a SEV2's decision), each audited."""

import re
from datetime import UTC, datetime

import pytest

from comms import obligation
from comms.errors import CommunicationRefused
from comms.models import CommDecision
from comms.selectors import obligation_for
from comms.services.communications import (
    communication_approve,
    communication_publish,
    communication_save,
    obligation_decide,
)
from core.models import AuditEntry
from incidents.models import TimelineEntry
from incidents.services.incident import incident_classify
from tests.comms.builders import PARTS, TRIAGE

pytestmark = pytest.mark.django_db

AT = datetime(2026, 5, 12, 14, 5, tzinfo=UTC)


# --- The pure rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "reached", "level"),
    [
        ("SEV1", 3, obligation.Level.REQUIRED),
        ("SEV1", 0, obligation.Level.NONE),
        ("SEV2", 1, obligation.Level.DECIDE),
        ("SEV2", 0, obligation.Level.NONE),
        ("SEV3", 40, obligation.Level.NONE),
        ("", 40, obligation.Level.NONE),
    ],
)
def test_the_level_follows_the_severity_and_whether_users_were_reached(severity, reached, level):
    assert obligation.level_for(severity, reached) == level


def _decision(outcome, level):
    return obligation.Decision(
        outcome=outcome, level=level, severity="SEV1", by="lena", at=AT, reason="why"
    )


def test_a_sev1_that_reached_users_stays_open_until_published_or_waived():
    required = {"severity": "SEV1", "users_reached": 3}
    assert obligation.obligation_of(**required).state == "open"
    assert obligation.obligation_of(**required, published_at=AT).state == "published"
    waiver = _decision(obligation.NO_COMMUNICATION, obligation.Level.REQUIRED)
    assert obligation.obligation_of(**required, decision=waiver).state == "waived"


def test_a_sev2_no_communication_decision_does_not_waive_the_sev1_it_becomes():
    earlier = _decision(obligation.NO_COMMUNICATION, obligation.Level.DECIDE)
    found = obligation.obligation_of(severity="SEV1", users_reached=3, decision=earlier)
    assert found.state == "open"
    assert found.decision == earlier


def test_a_sev2_that_reached_users_is_cleared_by_a_decision_either_way():
    for outcome in (obligation.COMMUNICATE, obligation.NO_COMMUNICATION):
        decision = _decision(outcome, obligation.Level.DECIDE)
        found = obligation.obligation_of(severity="SEV2", users_reached=1, decision=decision)
        assert found.state == "decided"
    assert obligation.obligation_of(severity="SEV2", users_reached=1).state == "open"


def test_a_sev1_cannot_decide_to_communicate_without_publishing():
    assert obligation.may_decide(obligation.Level.REQUIRED, obligation.COMMUNICATE)
    assert not obligation.may_decide(obligation.Level.REQUIRED, obligation.NO_COMMUNICATION)
    assert obligation.may_decide(obligation.Level.NONE, obligation.NO_COMMUNICATION)


# --- From a built incident ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "reached", "level"),
    [
        ("SEV1", True, "required"),
        ("SEV1", False, "none"),
        ("SEV2", True, "decide"),
        ("SEV2", False, "none"),
        ("SEV3", True, "none"),
    ],
)
def test_an_incidents_obligation_comes_from_its_severity_and_its_events(
    make_incident, severity, reached, level
):
    incident = make_incident(severity, reached=reached)
    found = obligation_for(incident)
    assert found.level == level
    assert found.state == ("open" if level != "none" else "none")
    if severity != "SEV3":
        assert found.users_reached == (3 if reached else 0)  # three account holds


def test_the_incident_page_shows_the_open_obligation_prominently(client_for, sev1, viewer):
    page = client_for(viewer).get(sev1.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    card = re.search(r'<section id="comm-obligation"[^>]*>', html).group(0)
    assert 'data-state="open"' in card
    assert "containment-sev1" in card  # the SEV1 look: red, above the response panel
    assert html.index('id="comm-obligation"') < html.index('id="response"')
    assert "3 actions that users see fired" in html
    # A viewer sees the item but not the lead's controls.
    assert "Waive the communication" not in html


def test_the_lead_waives_a_sev1_with_a_reason_and_it_is_audited(client_for, sev1, lead):
    response = client_for(lead).post(
        f"/incidents/{sev1.number}/communications/decide/",
        {"outcome": "no_communication", "reason": "The holds were lifted before anyone saw them"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b'data-state="waived"' in response.content
    assert b"The holds were lifted before anyone saw them" in response.content
    entry = AuditEntry.objects.get(verb="comms.waive")
    assert entry.actor == lead
    assert entry.reason == "The holds were lifted before anyone saw them"
    assert entry.after == {
        "outcome": "no_communication",
        "level": "required",
        "severity": "SEV1",
        "users_reached": 3,
    }
    timeline = TimelineEntry.objects.filter(incident=sev1, kind="communication").get()
    assert timeline.text.startswith("Waived the external communication this SEV1 owes")
    assert obligation_for(sev1).state == "waived"


def test_a_waiver_needs_a_reason(client_for, sev1, lead):
    response = client_for(lead).post(
        f"/incidents/{sev1.number}/communications/decide/",
        {"outcome": "no_communication", "reason": "   "},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert not CommDecision.objects.exists()
    assert not AuditEntry.objects.filter(verb__startswith="comms.").exists()


def test_a_sev1_cannot_be_cleared_by_deciding_to_communicate(sev1, lead):
    with pytest.raises(CommunicationRefused, match="publish it, or waive it"):
        obligation_decide(actor=lead, incident=sev1, outcome="communicate", reason="We will")
    assert obligation_for(sev1).state == "open"


@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_only_the_lead_may_waive(client_for, request, sev1, who):
    response = client_for(request.getfixturevalue(who)).post(
        f"/incidents/{sev1.number}/communications/decide/",
        {"outcome": "no_communication", "reason": "Not worth it"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert not CommDecision.objects.exists()


def test_a_responder_who_leads_the_incident_may_waive_it(make_incident, responder_lead):
    incident = make_incident("SEV1", lead=responder_lead)
    obligation_decide(
        actor=responder_lead, incident=incident, outcome="no_communication", reason="Internal"
    )
    assert obligation_for(incident).state == "waived"


def test_the_lead_records_a_sev2_decision_either_way(client_for, make_incident, lead):
    incident = make_incident("SEV2", reached=True)
    url = f"/incidents/{incident.number}/communications/decide/"
    client = client_for(lead)
    first = client.post(url, {"outcome": "communicate", "reason": "Holds were visible"})
    assert first.status_code == 302
    assert obligation_for(incident).state == "decided"
    assert obligation_for(incident).decision.outcome == "communicate"
    second = client.post(
        url, {"outcome": "no_communication", "reason": "Every hold was reversed within a minute"}
    )
    assert second.status_code == 302
    found = obligation_for(incident)
    assert (found.state, found.decision.outcome) == ("decided", "no_communication")
    assert AuditEntry.objects.filter(verb="comms.decide").count() == 2
    assert TimelineEntry.objects.filter(incident=incident, kind="communication").count() == 2


def test_escalating_a_decided_sev2_to_sev1_opens_the_obligation_again(make_incident, lead):
    incident = make_incident("SEV2", reached=True)
    obligation_decide(actor=lead, incident=incident, outcome="no_communication", reason="Minor")
    assert obligation_for(incident).state == "decided"
    incident_classify(actor=lead, incident=incident, **TRIAGE["SEV1"])
    incident.refresh_from_db()
    assert obligation_for(incident).state == "open"


def test_nothing_to_decide_when_nothing_is_owed(make_incident, lead):
    incident = make_incident("SEV3", reached=True)
    with pytest.raises(CommunicationRefused, match="Nothing is owed"):
        obligation_decide(actor=lead, incident=incident, outcome="no_communication", reason="x")


def test_publishing_clears_the_obligation_and_the_page_says_when(client_for, sev1, lead, viewer):
    version = communication_save(actor=lead, incident=sev1, parts=PARTS)
    communication_approve(actor=lead, incident=sev1, version_number=version.number)
    published = communication_publish(actor=lead, incident=sev1, version_number=version.number)
    found = obligation_for(sev1)
    assert (found.state, found.published_at) == ("published", published.published_at)
    page = client_for(viewer).get(sev1.get_absolute_url())
    assert b'data-state="published"' in page.content
    assert b"Cleared</strong> by publication at" in page.content
    with pytest.raises(CommunicationRefused, match="already published"):
        obligation_decide(actor=lead, incident=sev1, outcome="no_communication", reason="x")


def test_the_obligation_card_reloads_alone(client_for, sev1, viewer):
    response = client_for(viewer).get(f"/incidents/{sev1.number}/communications/obligation/")
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<section id="comm-obligation"')
