"""Triage (severity and its override), the people on an incident, and its room's messages."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from comms.models import Reminder
from core.models import AuditEntry
from incidents.errors import IncidentError
from incidents.models import Incident, TimelineEntry
from incidents.services.incident import (
    incident_classify,
    incident_declare,
    incident_people_change,
    incident_status_change,
)
from incidents.services.timeline import MESSAGE_MAX_LENGTH, incident_message_post
from tests.factories import Role, UserFactory

pytestmark = pytest.mark.django_db


def _declare(actor, system, **extra):
    return incident_declare(actor=actor, title="Refunds flagged", systems=[system], **extra)


def _audits(incident, verb):
    return AuditEntry.objects.filter(verb=verb, target_id=str(incident.pk))


def _entries(incident, kind):
    return TimelineEntry.objects.filter(incident=incident, kind=kind)


@pytest.fixture
def colleague(db):
    """A second responder."""
    return UserFactory(username="ravi", role=Role.RESPONDER)


# --- Declaring ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("harm", "irreversible", "expected"),
    [
        ("harmful", False, "SEV1"),
        ("wrong", True, "SEV1"),
        ("wrong", False, "SEV2"),
        ("anomalous", True, "SEV3"),
    ],
)
def test_declaring_with_both_answers_gives_the_scales_severity(
    system, responder, harm, irreversible, expected
):
    incident = _declare(responder, system, harm=harm, irreversible_actions=irreversible)
    assert incident.severity == expected
    assert incident.severity_override_reason == ""
    assert not incident.is_overridden
    declared = _entries(incident, "declared").get()
    assert f"Severity {expected}: " in declared.text


def test_declaring_without_the_harm_leaves_it_unclassified_and_chases_it(system, responder):
    declared_at = timezone.now() - timedelta(minutes=2)
    incident = _declare(responder, system, declared_at=declared_at)
    assert incident.severity == ""
    assert incident.next_update_due_at is None
    reminder = Reminder.objects.get(incident=incident)
    assert reminder.kind == "unowned"
    assert reminder.due_at == declared_at + timedelta(minutes=10)
    assert reminder.done_at is None
    assert "Severity unclassified." in _entries(incident, "declared").get().text


def test_a_classified_incident_with_a_lead_is_not_chased_as_unowned(system, responder):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False, lead=responder)
    assert not Reminder.objects.filter(incident=incident, kind="unowned").exists()
    assert Reminder.objects.filter(incident=incident, kind="update_overdue").exists()
    assert list(incident.participants.all()) == [responder]


def test_declaring_an_override_without_a_reason_creates_nothing(system, lead):
    with pytest.raises(IncidentError) as refused:
        _declare(lead, system, harm="anomalous", irreversible_actions=False, severity="SEV1")
    assert refused.value.field == "severity_override_reason"
    assert "The scale gives SEV3" in str(refused.value)
    assert not Incident.objects.exists()
    assert not AuditEntry.objects.filter(verb="incident.declare").exists()


def test_a_responder_cannot_declare_with_an_override(system, responder):
    with pytest.raises(PermissionDenied):
        _declare(
            responder,
            system,
            harm="harmful",
            irreversible_actions=False,
            severity="SEV3",
            severity_override_reason="Looks minor.",
        )
    assert not Incident.objects.exists()


def test_a_responder_declaring_as_the_lead_may_override(system, responder):
    incident = _declare(
        responder,
        system,
        harm="wrong",
        irreversible_actions=False,
        severity="SEV1",
        severity_override_reason="Customers are calling.",
        lead=responder,
    )
    assert incident.severity == "SEV1"
    assert incident.lead == responder


def test_an_incident_lead_declares_with_an_override_and_its_reason(system, lead):
    incident = _declare(
        lead,
        system,
        harm="anomalous",
        irreversible_actions=False,
        severity="SEV2",
        severity_override_reason="Regulator asked about it.",
    )
    assert incident.severity == "SEV2"
    assert incident.is_overridden
    audit = _audits(incident, "incident.declare").get()
    assert audit.after["severity_override_reason"] == "Regulator asked about it."
    assert (
        "overridden from SEV3: Regulator asked about it."
        in _entries(incident, "declared").get().text
    )


# --- Classifying and overriding -------------------------------------------------------------


def test_an_override_without_a_reason_is_refused_and_writes_nothing(system, lead):
    incident = _declare(lead, system, harm="wrong", irreversible_actions=False)
    with pytest.raises(IncidentError) as refused:
        incident_classify(
            actor=lead,
            incident=incident,
            harm="wrong",
            irreversible_actions=False,
            severity="SEV1",
            severity_override_reason="  ",
        )
    assert refused.value.field == "severity_override_reason"
    incident.refresh_from_db()
    assert incident.severity == "SEV2"
    assert not _audits(incident, "incident.classify").exists()
    assert not _entries(incident, "severity").exists()


def test_a_responder_who_is_not_the_lead_cannot_override(system, responder, colleague):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False, lead=colleague)
    with pytest.raises(PermissionDenied):
        incident_classify(
            actor=responder,
            incident=incident,
            harm="wrong",
            irreversible_actions=False,
            severity="SEV1",
            severity_override_reason="Feels worse.",
        )
    incident.refresh_from_db()
    assert incident.severity == "SEV2"
    assert incident.severity_override_reason == ""
    assert not _audits(incident, "incident.classify").exists()


def test_the_incidents_own_lead_may_override_as_a_responder(system, responder):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False, lead=responder)
    incident = incident_classify(
        actor=responder,
        incident=incident,
        harm="wrong",
        irreversible_actions=False,
        severity="SEV1",
        severity_override_reason="Press picked it up.",
    )
    assert incident.severity == "SEV1"


def test_an_incident_leads_override_is_stored_audited_and_on_the_timeline(system, responder, lead):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False)
    incident_classify(
        actor=lead,
        incident=incident,
        harm="wrong",
        irreversible_actions=False,
        severity="SEV1",
        severity_override_reason="Three customers lost access to their accounts.",
    )
    incident.refresh_from_db()
    assert incident.severity == "SEV1"
    assert incident.severity_assessed == "SEV2"
    assert incident.severity_override_reason == "Three customers lost access to their accounts."
    assert incident.is_overridden
    audit = _audits(incident, "incident.classify").get()
    assert audit.actor == lead
    assert audit.reason == "Three customers lost access to their accounts."
    assert (audit.before["severity"], audit.after["severity"]) == ("SEV2", "SEV1")
    entry = _entries(incident, "severity").get()
    assert entry.actor == lead
    assert entry.text == (
        "Severity SEV2 → SEV1 (overridden from SEV2: "
        "Three customers lost access to their accounts.)."
    )


def test_escalating_a_sev3_once_harm_is_confirmed_owes_an_update_within_30_minutes(
    system, responder
):
    incident = _declare(responder, system, harm="anomalous", irreversible_actions=False)
    assert incident.severity == "SEV3"
    assert incident.next_update_due_at is None
    before = timezone.now()
    incident_classify(
        actor=responder, incident=incident, harm="harmful", irreversible_actions=False
    )
    after = timezone.now()
    incident.refresh_from_db()
    assert incident.severity == "SEV1"
    assert before + timedelta(minutes=30) <= incident.next_update_due_at
    assert incident.next_update_due_at <= after + timedelta(minutes=30)
    reminder = Reminder.objects.get(incident=incident, kind="update_overdue", done_at=None)
    assert reminder.due_at == incident.next_update_due_at
    entry = _entries(incident, "severity").get()
    assert entry.text.startswith("Severity SEV3 → SEV1: Harmful outputs")
    assert entry.data == {"from": "SEV3", "to": "SEV1"}
    assert _audits(incident, "incident.classify").get().reason == ""


def test_classifying_an_unclassified_incident_starts_its_update_clock(system, responder):
    incident = _declare(responder, system)
    incident_classify(actor=responder, incident=incident, harm="wrong", irreversible_actions=False)
    incident.refresh_from_db()
    assert incident.severity == "SEV2"
    assert incident.next_update_due_at is not None
    assert _entries(incident, "severity").get().text.startswith("Severity unclassified → SEV2")


def test_giving_the_same_answers_again_records_nothing(system, responder):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=True)
    incident_classify(actor=responder, incident=incident, harm="wrong", irreversible_actions=True)
    assert not _audits(incident, "incident.classify").exists()
    assert not _entries(incident, "severity").exists()


def test_a_resolved_incident_is_not_reclassified(system, responder):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False)
    incident_status_change(actor=responder, incident=incident, status="investigating")
    incident_status_change(actor=responder, incident=incident, status="resolved")
    with pytest.raises(IncidentError, match="not reclassified"):
        incident_classify(
            actor=responder, incident=incident, harm="harmful", irreversible_actions=True
        )
    incident.refresh_from_db()
    assert incident.severity == "SEV2"
    assert not _audits(incident, "incident.classify").exists()


def test_classifying_needs_the_harm(system, responder):
    incident = _declare(responder, system)
    with pytest.raises(IncidentError) as refused:
        incident_classify(actor=responder, incident=incident, harm="", irreversible_actions=False)
    assert refused.value.field == "harm"


# --- People ---------------------------------------------------------------------------------


def test_a_responder_takes_an_empty_lead_for_themselves(system, responder):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False)
    incident = incident_people_change(actor=responder, incident=incident, lead=responder)
    assert incident.lead == responder
    assert responder in incident.participants.all()
    assert _entries(incident, "people").get().text == "Lead: nobody → rosa."


def test_a_responder_cannot_give_an_empty_lead_to_someone_else(system, responder, colleague):
    incident = _declare(responder, system, harm="wrong", irreversible_actions=False)
    with pytest.raises(PermissionDenied):
        incident_people_change(actor=responder, incident=incident, lead=colleague)
    incident.refresh_from_db()
    assert incident.lead is None


def test_a_viewer_cannot_take_an_empty_lead(system, responder, viewer):
    incident = _declare(responder, system)
    with pytest.raises(PermissionDenied):
        incident_people_change(actor=viewer, incident=incident, lead=viewer)
    incident.refresh_from_db()
    assert incident.lead is None


def test_once_there_is_a_lead_another_responder_cannot_take_it(system, responder, colleague):
    incident = _declare(responder, system, lead=responder)
    with pytest.raises(PermissionDenied):
        incident_people_change(actor=colleague, incident=incident, lead=colleague)
    incident.refresh_from_db()
    assert incident.lead == responder
    assert not _entries(incident, "people").exists()


def test_the_lead_hands_over_in_one_timeline_and_one_audit_entry(system, responder, colleague):
    incident = _declare(responder, system, lead=responder)
    incident = incident_people_change(actor=responder, incident=incident, lead=colleague)
    assert incident.lead == colleague
    assert set(incident.participants.all()) == {responder, colleague}
    entry = _entries(incident, "people").get()
    assert entry.text == "Lead: rosa → ravi."
    assert entry.actor == responder
    audit = _audits(incident, "incident.people").get()
    assert (audit.before["lead"], audit.after["lead"]) == ("rosa", "ravi")
    assert audit.actor == responder


def test_an_incident_lead_hands_over_someone_elses_lead(system, responder, colleague, lead):
    incident = _declare(responder, system, lead=responder)
    incident = incident_people_change(actor=lead, incident=incident, lead=colleague)
    assert incident.lead == colleague
    assert _audits(incident, "incident.people").get().actor == lead


def test_the_new_lead_must_be_a_responder(system, responder, viewer, lead):
    incident = _declare(responder, system, lead=responder)
    with pytest.raises(IncidentError) as refused:
        incident_people_change(actor=lead, incident=incident, lead=viewer)
    assert refused.value.field == "lead"
    assert "vera is not a responder" in str(refused.value)
    incident.refresh_from_db()
    assert incident.lead == responder
    assert not _audits(incident, "incident.people").exists()


def test_a_lead_cannot_be_taken_away_without_a_successor(system, responder):
    incident = _declare(responder, system, lead=responder)
    with pytest.raises(IncidentError) as refused:
        incident_people_change(actor=responder, incident=incident, lead=None)
    assert refused.value.field == "lead"


def test_the_lead_names_the_scribe_and_comms_owner(system, responder, colleague, lead):
    incident = _declare(responder, system, lead=responder)
    incident = incident_people_change(
        actor=responder, incident=incident, scribe=colleague, comms_owner=lead
    )
    assert (incident.scribe, incident.comms_owner) == (colleague, lead)
    assert _entries(incident, "people").get().text == (
        "Scribe: nobody → ravi; Comms owner: nobody → lena."
    )


# --- Messages -------------------------------------------------------------------------------


def test_a_viewer_cannot_post_in_the_room(system, responder, viewer):
    incident = _declare(responder, system)
    with pytest.raises(PermissionDenied):
        incident_message_post(actor=viewer, incident=incident, text="Any news?")
    assert not _entries(incident, "message").exists()
    assert viewer not in incident.participants.all()


def test_a_responders_message_goes_on_the_timeline_and_makes_them_a_participant(
    system, responder, colleague
):
    incident = _declare(responder, system, lead=responder)
    entry = incident_message_post(
        actor=colleague, incident=incident, text="  Holds fire on every refund.  "
    )
    assert entry.kind == "message"
    assert entry.text == "Holds fire on every refund."
    assert entry.actor_label == "ravi"
    assert colleague in incident.participants.all()


@pytest.mark.parametrize("text", ["", "   \n  ", "x" * (MESSAGE_MAX_LENGTH + 1)])
def test_empty_and_over_long_messages_are_refused(system, responder, text):
    incident = _declare(responder, system)
    with pytest.raises(IncidentError) as refused:
        incident_message_post(actor=responder, incident=incident, text=text)
    assert refused.value.field == "text"
    assert not _entries(incident, "message").exists()
    assert responder not in incident.participants.all()


def test_a_message_of_the_maximum_length_is_kept(system, responder):
    incident = _declare(responder, system)
    entry = incident_message_post(actor=responder, incident=incident, text="x" * MESSAGE_MAX_LENGTH)
    assert len(entry.text) == MESSAGE_MAX_LENGTH
