"""The incidents API (/api/v1/incidents): the same rules as the pages, in the one error shape."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from comms.models import StatusUpdate
from core.models import AuditEntry
from incidents.models import Incident, TimelineEntry
from incidents.services.incident import incident_declare, incident_status_change
from systems.models import SystemToken
from systems.services import token_issue
from tests.factories import ActionTypeFactory, Role, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents"


def api(user=None):
    """A client signed in as `user` (anonymous for None); each person gets their own."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post(user, path, data):
    return api(user).post(path, data, content_type="application/json")


def patch(user, path, data):
    return api(user).patch(path, data, content_type="application/json")


def fields_of(response):
    return [error["field"] for error in response.json()["errors"]]


@pytest.fixture
def colleague(db):
    return UserFactory(username="ravi", role=Role.RESPONDER)


@pytest.fixture
def incident(system, responder):
    """INC-1, a SEV2 with no lead."""
    return incident_declare(
        actor=responder,
        title="Refunds flagged as fraud",
        systems=[system],
        harm="wrong",
        irreversible_actions=False,
    )


def _at(incident):
    return f"{URL}/{incident.number}"


# --- Reading --------------------------------------------------------------------------------


def test_a_viewer_lists_and_reads_incidents(viewer, incident):
    listed = api(viewer).get(URL)
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["reference"], row["severity"], row["systems"]) == (
        "INC-1",
        "SEV2",
        ["refund-classifier"],
    )
    one = api(viewer).get(_at(incident))
    assert one.status_code == 200
    assert one.json()["title"] == "Refunds flagged as fraud"


def test_someone_without_a_role_reads_no_incident(outsider, incident):
    assert api(outsider).get(URL).status_code == 403
    response = api(outsider).get(_at(incident))
    assert response.status_code == 403
    assert "Refunds flagged" not in response.content.decode()


def test_an_unknown_incident_is_a_404_in_the_error_shape(viewer):
    response = api(viewer).get(f"{URL}/99")
    assert response.status_code == 404
    assert fields_of(response) == [None]


# --- Declaring ------------------------------------------------------------------------------


def test_a_responder_declares_and_the_scale_gives_the_severity(responder, system):
    response = post(
        responder,
        URL,
        {
            "title": "Refunds flagged as fraud",
            "systems": ["refund-classifier"],
            "harm": "wrong",
            "irreversible_actions": True,
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["reference"], body["severity"], body["status"]) == ("INC-1", "SEV1", "triage")
    assert body["irreversible_actions"] is True
    incident = Incident.objects.get()
    assert incident.declared_by == responder
    assert AuditEntry.objects.filter(verb="incident.declare", actor=responder).count() == 1


def test_an_unanswered_reversibility_comes_from_the_action_catalog(responder, system):
    ActionTypeFactory(system=system, name="account_hold", reversible=False)
    response = post(
        responder,
        URL,
        {"title": "Holds on refunds", "systems": ["refund-classifier"], "harm": "wrong"},
    )
    assert response.status_code == 201
    assert response.json()["irreversible_actions"] is True
    assert response.json()["severity"] == "SEV1"
    stored = Incident.objects.get()
    assert (stored.irreversible_actions, stored.severity) == (True, "SEV1")


def test_a_catalog_of_reversible_actions_answers_no(responder, system):
    ActionTypeFactory(system=system, name="flag_for_review", reversible=True)
    response = post(
        responder,
        URL,
        {"title": "Flags on refunds", "systems": ["refund-classifier"], "harm": "wrong"},
    )
    assert response.status_code == 201
    assert response.json()["irreversible_actions"] is False
    assert response.json()["severity"] == "SEV2"
    stored = Incident.objects.get()
    assert (stored.irreversible_actions, stored.severity) == (False, "SEV2")


def test_declaring_without_the_harm_is_unclassified(responder, system):
    response = post(responder, URL, {"title": "Odd replies", "systems": ["refund-classifier"]})
    assert response.status_code == 201
    assert response.json()["severity"] == ""
    assert response.json()["irreversible_actions"] is None
    stored = Incident.objects.get()
    assert (stored.title, stored.severity, stored.irreversible_actions) == ("Odd replies", "", None)


def test_a_viewer_cannot_declare(viewer, system):
    response = post(viewer, URL, {"title": "X", "systems": ["refund-classifier"]})
    assert response.status_code == 403
    assert fields_of(response) == [None]
    assert not Incident.objects.exists()


def test_anonymous_callers_cannot_declare(system):
    response = post(None, URL, {"title": "X", "systems": ["refund-classifier"]})
    assert response.status_code in (401, 403)
    assert not Incident.objects.exists()


def test_a_system_token_cannot_declare(client, system):
    _, raw = token_issue(actor=None, system=system, name="p", scopes=SystemToken.Scope.values)
    response = client.post(
        URL,
        {"title": "X", "systems": ["refund-classifier"], "harm": "wrong"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "X", "systems": ["no-such-system"]}, "systems"),
        ({"title": "X", "systems": []}, "systems"),
        ({"title": "", "systems": ["refund-classifier"]}, "title"),
        ({"title": "X", "systems": ["refund-classifier"], "harm": "terrible"}, "harm"),
        ({"title": "X", "systems": ["refund-classifier"], "severity": "SEV1"}, "harm"),
        (
            {
                "title": "X",
                "systems": ["refund-classifier"],
                "harm": "anomalous",
                "irreversible_actions": False,
                "severity": "SEV1",
            },
            "severity_override_reason",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(lead, system, data, field):
    response = post(lead, URL, data)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["message"]
    assert not Incident.objects.exists()


def test_a_responder_cannot_declare_with_an_override(responder, system):
    response = post(
        responder,
        URL,
        {
            "title": "X",
            "systems": ["refund-classifier"],
            "harm": "harmful",
            "irreversible_actions": False,
            "severity": "SEV3",
            "severity_override_reason": "Looks minor.",
        },
    )
    assert response.status_code == 403
    assert not Incident.objects.exists()


# --- Editing --------------------------------------------------------------------------------


def test_a_responder_edits_the_title_and_summary_and_it_is_audited(responder, incident):
    response = patch(
        responder, _at(incident), {"title": "Refund holds", "summary": "Holds since 09:00."}
    )
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["summary"]) == (
        "Refund holds",
        "Holds since 09:00.",
    )
    audit = AuditEntry.objects.get(verb="incident.edit")
    assert audit.actor == responder
    assert audit.before["title"] == "Refunds flagged as fraud"
    assert audit.after["title"] == "Refund holds"
    assert TimelineEntry.objects.filter(incident=incident, kind="edit").count() == 1


def test_a_viewer_cannot_edit(viewer, incident):
    response = patch(viewer, _at(incident), {"title": "Nothing to see"})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.title == "Refunds flagged as fraud"


def test_an_empty_title_is_refused_on_the_title(responder, incident):
    response = patch(responder, _at(incident), {"title": ""})
    assert response.status_code == 400
    assert fields_of(response) == ["title"]
    incident.refresh_from_db()
    assert incident.title == "Refunds flagged as fraud"
    assert not AuditEntry.objects.filter(verb="incident.edit").exists()


# --- Classifying ----------------------------------------------------------------------------


def test_a_responder_escalates_once_harm_is_confirmed(responder, incident):
    response = post(
        responder,
        f"{_at(incident)}/classify",
        {"harm": "harmful", "irreversible_actions": False},
    )
    assert response.status_code == 200
    assert response.json()["severity"] == "SEV1"
    assert AuditEntry.objects.filter(verb="incident.classify", actor=responder).count() == 1


def test_a_viewer_cannot_classify(viewer, incident):
    response = post(
        viewer, f"{_at(incident)}/classify", {"harm": "harmful", "irreversible_actions": False}
    )
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.severity == "SEV2"


def test_an_override_without_a_reason_is_a_400_on_the_reason(lead, incident):
    response = post(
        lead,
        f"{_at(incident)}/classify",
        {"harm": "wrong", "irreversible_actions": False, "severity": "SEV1"},
    )
    assert response.status_code == 400
    assert fields_of(response) == ["severity_override_reason"]
    incident.refresh_from_db()
    assert incident.severity == "SEV2"


def test_only_a_lead_overrides_through_the_api(responder, lead, incident):
    override = {
        "harm": "wrong",
        "irreversible_actions": False,
        "severity": "SEV1",
        "severity_override_reason": "Press picked it up.",
    }
    refused = post(responder, f"{_at(incident)}/classify", override)
    assert refused.status_code == 403
    incident.refresh_from_db()
    assert (incident.severity, incident.severity_override_reason) == ("SEV2", "")
    allowed = post(lead, f"{_at(incident)}/classify", override)
    assert allowed.status_code == 200
    assert allowed.json()["severity"] == "SEV1"
    assert allowed.json()["severity_override_reason"] == "Press picked it up."
    incident.refresh_from_db()
    assert (incident.severity, incident.severity_override_reason) == (
        "SEV1",
        "Press picked it up.",
    )
    assert AuditEntry.objects.get(verb="incident.classify").actor == lead


def test_a_resolved_incident_is_not_reclassified_through_the_api(responder, incident):
    incident_status_change(actor=responder, incident=incident, status="investigating")
    incident_status_change(actor=responder, incident=incident, status="resolved")
    response = post(
        responder,
        f"{_at(incident)}/classify",
        {"harm": "harmful", "irreversible_actions": True},
    )
    assert response.status_code == 400
    assert "not reclassified" in response.json()["errors"][0]["message"]
    incident.refresh_from_db()
    assert (incident.harm, incident.severity) == ("wrong", "SEV2")
    assert not AuditEntry.objects.filter(verb="incident.classify").exists()


# --- Status ---------------------------------------------------------------------------------


def test_a_responder_moves_the_incident_on(responder, incident):
    response = post(responder, f"{_at(incident)}/status", {"status": "contained"})
    assert response.status_code == 200
    assert response.json()["status"] == "contained"
    assert response.json()["contained_at"] is not None
    incident.refresh_from_db()
    assert incident.status == "contained" and incident.contained_at is not None


def test_a_viewer_cannot_move_the_incident(viewer, incident):
    response = post(viewer, f"{_at(incident)}/status", {"status": "investigating"})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "triage"


def test_a_refused_move_is_a_400_on_the_status(responder, incident):
    response = post(responder, f"{_at(incident)}/status", {"status": "resolved"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["status"]
    assert "cannot go from triage to resolved" in errors[0]["message"]
    incident.refresh_from_db()
    assert incident.status == "triage"
    assert not AuditEntry.objects.filter(verb="incident.status_change").exists()


def test_a_status_that_does_not_exist_is_a_400_on_the_status(responder, incident):
    response = post(responder, f"{_at(incident)}/status", {"status": "paused"})
    assert response.status_code == 400
    assert fields_of(response) == ["status"]
    incident.refresh_from_db()
    assert incident.status == "triage"


def test_only_a_lead_closes_a_benign_shift(system, responder, lead):
    shift = incident_declare(
        actor=responder,
        title="Shorter replies",
        systems=[system],
        harm="anomalous",
        irreversible_actions=False,
    )
    benign = {"status": "closed", "benign": True, "reason": "Seasonal."}
    assert post(responder, f"{_at(shift)}/status", benign).status_code == 403
    shift.refresh_from_db()
    assert (shift.status, shift.closed_as_benign) == ("triage", False)
    response = post(lead, f"{_at(shift)}/status", benign)
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["closed_as_benign"] is True
    shift.refresh_from_db()
    assert (shift.status, shift.closed_as_benign) == ("closed", True)


# --- People ---------------------------------------------------------------------------------


def test_a_responder_takes_the_empty_lead(responder, incident):
    response = post(responder, f"{_at(incident)}/people", {"lead": "rosa"})
    assert response.status_code == 200
    assert response.json()["lead"] == "rosa"
    incident.refresh_from_db()
    assert incident.lead == responder


def test_a_viewer_cannot_take_the_lead(viewer, incident):
    response = post(viewer, f"{_at(incident)}/people", {"lead": "vera"})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.lead is None


def test_only_the_lead_hands_over(responder, colleague, incident):
    assert post(responder, f"{_at(incident)}/people", {"lead": "rosa"}).status_code == 200
    refused = post(colleague, f"{_at(incident)}/people", {"lead": "ravi"})
    assert refused.status_code == 403
    incident.refresh_from_db()
    assert incident.lead == responder
    handed = post(responder, f"{_at(incident)}/people", {"lead": "ravi"})
    assert handed.status_code == 200
    assert handed.json()["lead"] == "ravi"
    incident.refresh_from_db()
    assert incident.lead == colleague


def test_a_viewer_cannot_be_made_lead(lead, viewer, incident):
    response = post(lead, f"{_at(incident)}/people", {"lead": "vera"})
    assert response.status_code == 400
    assert fields_of(response) == ["lead"]
    incident.refresh_from_db()
    assert incident.lead is None
    assert not incident.participants.filter(pk=viewer.pk).exists()


def test_an_unknown_person_is_a_400_on_the_field(lead, incident):
    response = post(lead, f"{_at(incident)}/people", {"scribe": "nobody"})
    assert response.status_code == 400
    assert fields_of(response) == ["scribe"]
    incident.refresh_from_db()
    assert incident.scribe is None
    assert not AuditEntry.objects.filter(verb="incident.people").exists()


def test_naming_nobody_is_a_400(lead, incident):
    response = post(lead, f"{_at(incident)}/people", {})
    assert response.status_code == 400
    assert fields_of(response) == [None]
    assert not AuditEntry.objects.filter(verb="incident.people").exists()
    assert not TimelineEntry.objects.filter(incident=incident, kind="people").exists()


# --- Status updates -------------------------------------------------------------------------


def test_a_responder_posts_an_update_and_the_next_one_falls_due_a_cadence_later(
    responder, incident
):
    before = timezone.now()
    response = post(
        responder,
        f"{_at(incident)}/updates",
        {"known": "9% of refunds flagged.", "doing": "Turning the classifier off."},
    )
    after = timezone.now()
    assert response.status_code == 200
    due = parse_datetime(response.json()["next_update_due_at"])
    assert before + timedelta(minutes=60) <= due <= after + timedelta(minutes=60)
    update = StatusUpdate.objects.get()
    assert (update.author, update.known) == (responder, "9% of refunds flagged.")
    assert TimelineEntry.objects.filter(incident=incident, kind="status_update").count() == 1


def test_an_update_may_promise_the_next_one_sooner(responder, incident):
    soon = timezone.now() + timedelta(minutes=20)
    response = post(
        responder,
        f"{_at(incident)}/updates",
        {"known": "k", "doing": "d", "next_update_at": soon.isoformat()},
    )
    assert response.status_code == 200
    assert parse_datetime(response.json()["next_update_due_at"]) == soon
    incident.refresh_from_db()
    assert incident.next_update_due_at == soon
    assert StatusUpdate.objects.get().next_update_at == soon


def test_a_viewer_cannot_post_an_update(viewer, incident):
    response = post(viewer, f"{_at(incident)}/updates", {"known": "k", "doing": "d"})
    assert response.status_code == 403
    assert not StatusUpdate.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"doing": "d"}, "known"),
        ({"known": "k", "doing": "   "}, "doing"),
        ({"known": "k", "doing": "d", "next_update_at": "2000-01-01T00:00:00Z"}, "next_update_at"),
    ],
)
def test_a_bad_update_is_a_400_on_the_field(responder, incident, data, field):
    response = post(responder, f"{_at(incident)}/updates", data)
    assert response.status_code == 400
    assert fields_of(response) == [field]
    assert not StatusUpdate.objects.exists()


def test_an_update_cannot_push_the_next_one_past_the_cadence(responder, incident):
    late = timezone.now() + timedelta(minutes=90)
    response = post(
        responder,
        f"{_at(incident)}/updates",
        {"known": "k", "doing": "d", "next_update_at": late.isoformat()},
    )
    assert response.status_code == 400
    assert fields_of(response) == ["next_update_at"]
    assert "every 60 minutes" in response.json()["errors"][0]["message"]
    assert not StatusUpdate.objects.exists()


# --- Timeline -------------------------------------------------------------------------------


def test_a_responder_posts_a_message(responder, incident):
    response = post(responder, f"{_at(incident)}/timeline", {"text": "Holds on every refund."})
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["actor"], body["text"]) == (
        "message",
        "rosa",
        "Holds on every refund.",
    )
    assert incident.participants.filter(pk=responder.pk).exists()
    entry = TimelineEntry.objects.get(incident=incident, kind="message")
    assert (entry.actor, entry.text) == (responder, "Holds on every refund.")


def test_a_viewer_reads_the_timeline_but_cannot_post(viewer, incident):
    response = post(viewer, f"{_at(incident)}/timeline", {"text": "Any news?"})
    assert response.status_code == 403
    assert not TimelineEntry.objects.filter(kind="message").exists()
    assert api(viewer).get(f"{_at(incident)}/timeline").status_code == 200


@pytest.mark.parametrize("text", ["", "x" * 4001])
def test_an_empty_or_over_long_message_is_a_400_on_the_text(responder, incident, text):
    response = post(responder, f"{_at(incident)}/timeline", {"text": text})
    assert response.status_code == 400
    assert fields_of(response) == ["text"]
    assert not TimelineEntry.objects.filter(kind="message").exists()


def test_the_timeline_lists_the_entries_after_a_given_one(responder, incident):
    first = post(responder, f"{_at(incident)}/timeline", {"text": "one"}).json()["id"]
    post(responder, f"{_at(incident)}/timeline", {"text": "two"})
    post(responder, f"{_at(incident)}/timeline", {"text": "three"})
    everything = api(responder).get(f"{_at(incident)}/timeline").json()["results"]
    assert [e["kind"] for e in everything] == ["declared", "message", "message", "message"]
    after = api(responder).get(f"{_at(incident)}/timeline?after={first}").json()["results"]
    assert [e["text"] for e in after] == ["two", "three"]


def test_a_bad_after_is_a_400_on_after(responder, incident):
    response = api(responder).get(f"{_at(incident)}/timeline?after=latest")
    assert response.status_code == 400
    assert fields_of(response) == ["after"]
