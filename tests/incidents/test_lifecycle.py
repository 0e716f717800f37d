"""Where an incident may go next, what each move needs, and what each move records."""

from datetime import timedelta
from itertools import product

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from comms.models import Reminder
from core.models import AuditEntry
from incidents.errors import IncidentError
from incidents.lifecycle import TransitionRefused, check_transition, moves_from
from incidents.models import Incident, TimelineEntry
from incidents.services.incident import incident_declare, incident_status_change
from incidents.services.postmortems import action_item_add

# The product's lifecycle, written out by hand so a change to lifecycle.NEXT shows up here.
ALLOWED = {
    ("triage", "investigating"),
    ("triage", "contained"),
    ("investigating", "contained"),
    ("investigating", "mitigated"),
    ("investigating", "resolved"),
    ("contained", "investigating"),
    ("contained", "mitigated"),
    ("contained", "resolved"),
    ("mitigated", "resolved"),
    ("resolved", "closed"),
    ("resolved", "investigating"),
}
STATUSES = ["triage", "investigating", "contained", "mitigated", "resolved", "closed"]
ALL_PAIRS = list(product(STATUSES, STATUSES))


def _check(current, to, *, severity="SEV2", has_postmortem=True, benign=False, reason="why"):
    check_transition(
        current=current,
        to=to,
        severity=severity,
        has_postmortem=has_postmortem,
        benign=benign,
        reason=reason,
    )


# --- The pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(("current", "to"), sorted(ALLOWED))
def test_every_move_of_the_lifecycle_is_allowed(current, to):
    _check(current, to)


@pytest.mark.parametrize(("current", "to"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_every_other_move_is_refused(current, to):
    with pytest.raises(TransitionRefused):
        _check(current, to)


def test_a_closed_incident_goes_nowhere():
    assert moves_from("closed") == []


def test_reopening_a_resolved_incident_is_offered_as_reopen():
    labels = {move.to: move.label for move in moves_from("resolved")}
    assert labels == {"closed": "Close", "investigating": "Reopen"}


def test_a_status_that_does_not_exist_is_refused_by_name():
    with pytest.raises(TransitionRefused, match="“paused” is not a status"):
        _check("triage", "paused")


@pytest.mark.parametrize("current", ["triage", "investigating"])
def test_a_sev3_closes_as_a_benign_shift_from_triage_or_investigation(current):
    _check(current, "closed", severity="SEV3", has_postmortem=False, benign=True, reason="noise")


@pytest.mark.parametrize("severity", ["SEV1", "SEV2", ""])
def test_only_a_sev3_can_be_closed_as_benign(severity):
    with pytest.raises(TransitionRefused, match="Only a SEV3"):
        _check("triage", "closed", severity=severity, benign=True, reason="noise")


@pytest.mark.parametrize("current", ["contained", "mitigated", "resolved", "closed"])
def test_a_benign_shift_is_not_closed_from_later_in_the_response(current):
    with pytest.raises(TransitionRefused, match="from triage or investigation"):
        _check(current, "closed", severity="SEV3", benign=True, reason="noise")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_benign_close_needs_a_reason(reason):
    with pytest.raises(TransitionRefused, match="Say why the shift is benign"):
        _check("triage", "closed", severity="SEV3", benign=True, reason=reason)


def test_only_closing_can_be_benign():
    with pytest.raises(TransitionRefused, match="Only closing can be benign"):
        _check("triage", "investigating", severity="SEV3", benign=True, reason="noise")


def test_closing_needs_the_postmortem():
    with pytest.raises(TransitionRefused, match="postmortem"):
        _check("resolved", "closed", has_postmortem=False)
    _check("resolved", "closed", has_postmortem=True)


@pytest.mark.parametrize("reason", ["", "  "])
def test_reopening_needs_a_reason(reason):
    with pytest.raises(TransitionRefused, match="Say why the incident is reopened"):
        _check("resolved", "investigating", reason=reason)


def test_other_moves_need_no_reason():
    _check("triage", "investigating", reason="")
    _check("contained", "investigating", reason="")


# --- Through the service -------------------------------------------------------------------


def _declare(actor, system, **extra):
    extra.setdefault("harm", "wrong")
    extra.setdefault("irreversible_actions", False)
    return incident_declare(actor=actor, title="Refunds flagged", systems=[system], **extra)


def _status_entries(incident):
    return TimelineEntry.objects.filter(incident=incident, kind="status")


def _status_audits(incident):
    return AuditEntry.objects.filter(verb="incident.status_change", target_id=str(incident.pk))


@pytest.mark.django_db
def test_a_refused_move_raises_on_the_status_field_and_writes_nothing(system, responder):
    incident = _declare(responder, system)
    with pytest.raises(IncidentError) as refused:
        incident_status_change(actor=responder, incident=incident, status="resolved")
    assert refused.value.field == "status"
    assert "cannot go from triage to resolved" in str(refused.value)
    incident.refresh_from_db()
    assert incident.status == "triage"
    assert incident.resolved_at is None
    assert not _status_audits(incident).exists()
    assert not _status_entries(incident).exists()


@pytest.mark.django_db
def test_each_move_is_audited_with_its_actor_and_put_on_the_timeline(system, responder):
    incident = _declare(responder, system)
    incident_status_change(actor=responder, incident=incident, status="investigating")
    incident_status_change(actor=responder, incident=incident, status="contained")
    audits = list(_status_audits(incident).order_by("id"))
    assert [(a.before["status"], a.after["status"]) for a in audits] == [
        ("triage", "investigating"),
        ("investigating", "contained"),
    ]
    assert {a.actor for a in audits} == {responder}
    assert {a.actor_label for a in audits} == {"rosa"}
    entries = list(_status_entries(incident))
    assert [e.text for e in entries] == [
        "Status triage → investigating.",
        "Status investigating → contained.",
    ]
    assert [e.data["to"] for e in entries] == ["investigating", "contained"]
    assert {e.actor for e in entries} == {responder}


@pytest.mark.django_db
def test_contained_and_resolved_are_stamped_the_first_time_only(system, responder):
    start = timezone.now() - timedelta(hours=3)
    incident = _declare(responder, system, declared_at=start)
    first = start + timedelta(minutes=10)
    incident_status_change(actor=responder, incident=incident, status="contained", at=first)
    incident_status_change(
        actor=responder, incident=incident, status="investigating", at=first + timedelta(minutes=5)
    )
    incident = incident_status_change(
        actor=responder, incident=incident, status="contained", at=first + timedelta(minutes=20)
    )
    assert incident.contained_at == first
    resolved = start + timedelta(hours=1)
    incident = incident_status_change(
        actor=responder, incident=incident, status="resolved", at=resolved
    )
    incident.refresh_from_db()
    assert incident.contained_at == first
    assert incident.resolved_at == resolved


@pytest.mark.django_db
def test_the_times_to_detect_contain_and_resolve_count_from_onset_and_detection(system, responder):
    declared = timezone.now() - timedelta(hours=5)
    incident = _declare(
        responder,
        system,
        declared_at=declared,
        onset_at=declared - timedelta(hours=1),
        detected_at=declared - timedelta(minutes=20),
    )
    assert incident.time_to_detect == timedelta(minutes=40)
    assert incident.time_to_contain is None
    assert incident.time_to_resolve is None
    incident_status_change(
        actor=responder, incident=incident, status="contained", at=declared + timedelta(minutes=10)
    )
    incident_status_change(
        actor=responder, incident=incident, status="resolved", at=declared + timedelta(hours=2)
    )
    incident.refresh_from_db()
    assert incident.time_to_detect == timedelta(minutes=40)
    assert incident.time_to_contain == timedelta(minutes=30)
    assert incident.time_to_resolve == timedelta(hours=2, minutes=20)


@pytest.mark.django_db
def test_detection_defaults_to_the_declaration_when_a_person_noticed(system, responder):
    declared = timezone.now() - timedelta(hours=1)
    incident = _declare(
        responder, system, declared_at=declared, onset_at=declared - timedelta(minutes=15)
    )
    assert incident.detected_at == declared
    assert incident.time_to_detect == timedelta(minutes=15)


@pytest.mark.django_db
def test_reopening_needs_a_reason_and_clears_the_resolution(system, responder):
    start = timezone.now() - timedelta(hours=2)
    incident = _declare(responder, system, declared_at=start)
    incident_status_change(actor=responder, incident=incident, status="investigating", at=start)
    incident_status_change(
        actor=responder, incident=incident, status="resolved", at=start + timedelta(minutes=30)
    )
    with pytest.raises(IncidentError) as refused:
        incident_status_change(actor=responder, incident=incident, status="investigating")
    assert refused.value.field == "status"
    incident.refresh_from_db()
    assert incident.resolved_at == start + timedelta(minutes=30)

    reopened = incident_status_change(
        actor=responder,
        incident=incident,
        status="investigating",
        reason="The fraud flags are back.",
    )
    assert reopened.status == "investigating"
    assert reopened.resolved_at is None
    assert reopened.time_to_resolve is None
    audit = _status_audits(incident).order_by("id").last()
    assert audit.reason == "The fraud flags are back."
    assert _status_entries(incident).last().text.endswith("The fraud flags are back.")
    # An open SEV2 owes updates again.
    assert reopened.next_update_due_at is not None

    final = timezone.now()
    incident = incident_status_change(
        actor=responder, incident=incident, status="resolved", at=final
    )
    assert incident.resolved_at == final
    assert incident.time_to_resolve == final - start


@pytest.mark.django_db
def test_closing_without_a_postmortem_is_refused(system, lead):
    incident = _declare(lead, system)
    incident_status_change(actor=lead, incident=incident, status="investigating")
    incident_status_change(actor=lead, incident=incident, status="resolved")
    with pytest.raises(IncidentError) as refused:
        incident_status_change(actor=lead, incident=incident, status="closed")
    assert refused.value.field == "status"
    assert "postmortem" in str(refused.value)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.closed_at is None


@pytest.mark.django_db
def test_closing_after_the_postmortem_keeps_the_time_to_resolve(system, lead):
    start = timezone.now() - timedelta(hours=4)
    incident = _declare(lead, system, declared_at=start)
    incident_status_change(actor=lead, incident=incident, status="investigating", at=start)
    resolved = start + timedelta(hours=1)
    incident_status_change(actor=lead, incident=incident, status="resolved", at=resolved)
    action_item_add(
        actor=lead,
        postmortem=Incident.objects.get(pk=incident.pk).postmortem,
        title="Alert on the shift",
        owner=lead,
        due=timezone.localdate(),
        category="detection",
    )
    closed = incident_status_change(actor=lead, incident=incident, status="closed")
    closed.refresh_from_db()
    assert closed.status == "closed"
    assert closed.closed_at is not None
    assert closed.resolved_at == resolved
    assert closed.time_to_resolve == timedelta(hours=1)
    assert not closed.closed_as_benign


@pytest.mark.django_db
def test_a_responder_cannot_close_a_benign_shift(system, responder):
    incident = _declare(responder, system, harm="anomalous")
    with pytest.raises(PermissionDenied):
        incident_status_change(
            actor=responder, incident=incident, status="closed", benign=True, reason="Seasonal."
        )
    incident.refresh_from_db()
    assert incident.status == "triage"
    assert not _status_audits(incident).exists()
    assert not _status_entries(incident).exists()


@pytest.mark.django_db
def test_the_incidents_own_lead_closes_a_benign_shift_even_as_a_responder(system, responder):
    incident = _declare(responder, system, harm="anomalous", lead=responder)
    closed = incident_status_change(
        actor=responder, incident=incident, status="closed", benign=True, reason="Seasonal."
    )
    assert closed.status == "closed"
    assert closed.closed_as_benign
    assert closed.closed_at is not None
    entry = _status_entries(incident).get()
    assert entry.text == "Status triage → closed as a benign shift. Seasonal."
    assert _status_audits(incident).get().reason == "Seasonal."


@pytest.mark.django_db
def test_an_incident_lead_closes_someone_elses_benign_shift(system, responder, lead):
    incident = _declare(responder, system, harm="anomalous", lead=responder)
    incident_status_change(actor=responder, incident=incident, status="investigating")
    closed = incident_status_change(
        actor=lead, incident=incident, status="closed", benign=True, reason="Known drift."
    )
    assert closed.status == "closed"
    assert closed.closed_as_benign
    assert _status_audits(incident).order_by("id").last().actor == lead


@pytest.mark.django_db
def test_a_benign_close_of_a_real_harm_is_refused(system, lead):
    incident = _declare(lead, system, harm="wrong")
    with pytest.raises(IncidentError) as refused:
        incident_status_change(
            actor=lead, incident=incident, status="closed", benign=True, reason="Nothing."
        )
    assert refused.value.field == "status"
    incident.refresh_from_db()
    assert incident.status == "triage"


@pytest.mark.django_db
def test_resolving_cancels_pending_reminders_and_owes_no_more_updates(system, responder):
    incident = _declare(responder, system, harm="harmful")
    assert incident.next_update_due_at is not None
    pending = Reminder.objects.filter(incident=incident, done_at=None)
    assert set(pending.values_list("kind", flat=True)) == {"unowned", "update_overdue"}
    incident_status_change(actor=responder, incident=incident, status="contained")
    incident = incident_status_change(actor=responder, incident=incident, status="resolved")
    incident.refresh_from_db()
    assert incident.next_update_due_at is None
    assert not Reminder.objects.filter(incident=incident, done_at=None).exists()
    assert Reminder.objects.filter(incident=incident).count() == 2
