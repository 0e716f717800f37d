"""Every incident action, tried by people who may not: refused server-side, nothing changed."""

import pytest

from core.models import AuditEntry
from incidents.models import TimelineEntry
from incidents.services.incident import incident_declare

pytestmark = pytest.mark.django_db

ACTIONS = {
    "classify": {"harm": "harmful", "irreversible_actions": "no"},
    "status": {"status": "investigating"},
    "people": {"role": "scribe", "person": "rosa"},
    "updates": {"known": "Holds fire", "doing": "Kill switch"},
    "messages": {"text": "hello"},
    "join": {},
}


@pytest.fixture
def incident(system, lead, responder):
    return incident_declare(
        actor=lead, title="Fraud flags tripled", systems=[system], harm="anomalous", lead=lead
    )


def _changes():
    return AuditEntry.objects.count(), TimelineEntry.objects.count()


def _taken(action, incident, person) -> bool:
    """Whether the incident shows `action` (as in ACTIONS) taken, `join` by `person`."""
    incident.refresh_from_db()
    return {
        "classify": lambda: incident.harm == "harmful",
        "status": lambda: incident.status == "investigating",
        "people": lambda: incident.scribe is not None,
        "updates": lambda: incident.status_updates.filter(known="Holds fire").exists(),
        "messages": lambda: incident.timeline.filter(kind="message", text="hello").exists(),
        "join": lambda: incident.participants.filter(pk=person.pk).exists(),
    }[action]()


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("who", ["viewer", "reviewer", "outsider"])
def test_people_below_responder_are_refused_every_incident_action(
    request, client_for, incident, action, who
):
    before = _changes()
    person = request.getfixturevalue(who)
    response = client_for(person).post(
        f"/incidents/{incident.number}/{action}/", ACTIONS[action], HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403
    assert _changes() == before
    assert not _taken(action, incident, person)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_signed_out_visitor_is_sent_to_sign_in_for_every_incident_action(
    client, incident, action
):
    before = _changes()
    response = client.post(f"/incidents/{incident.number}/{action}/", ACTIONS[action])
    assert response.status_code == 302
    assert response.url.startswith("/login/")
    assert _changes() == before


@pytest.mark.parametrize("action", ["classify", "status", "updates", "messages", "join"])
def test_a_responder_colleague_may_take_part_in_the_response(
    client_for, incident, responder, action
):
    response = client_for(responder).post(
        f"/incidents/{incident.number}/{action}/", ACTIONS[action], HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert _taken(action, incident, responder)
    assert incident.timeline.filter(actor=responder).exists()


def test_naming_the_scribe_is_the_leads_decision_not_a_colleagues(
    client_for, incident, lead, responder
):
    url = f"/incidents/{incident.number}/people/"
    assert client_for(responder).post(url, ACTIONS["people"]).status_code == 403
    incident.refresh_from_db()
    assert incident.scribe is None
    assert client_for(lead).post(url, ACTIONS["people"]).status_code == 302
    incident.refresh_from_db()
    assert incident.scribe == responder


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_a_get_on_an_action_url_changes_nothing(request, client_for, incident, who):
    before = _changes()
    response = client_for(request.getfixturevalue(who)).get(f"/incidents/{incident.number}/status/")
    assert response.status_code == 405
    assert _changes() == before
