import pytest

from core.models import AuditEntry
from incidents.services.incident import incident_declare, incident_status_change

pytestmark = pytest.mark.django_db


def test_declaring_numbers_incidents_in_order_and_audits_it(system, responder):
    first = incident_declare(actor=responder, title="A", systems=[system], harm="anomalous")
    second = incident_declare(
        actor=responder, title="B", systems=[system], harm="wrong", irreversible_actions=False
    )
    assert (first.reference, second.reference) == ("INC-1", "INC-2")
    entry = AuditEntry.objects.filter(verb="incident.declare").first()
    assert entry.after["systems"] == ["refund-classifier"]
    assert entry.after["severity"] == "SEV2"


def test_declaring_starts_the_timeline(system, responder):
    incident = incident_declare(
        actor=responder, title="Fraud flags tripled", systems=[system], harm="harmful"
    )
    (entry,) = incident.timeline.all()
    assert entry.kind == "declared"
    assert entry.actor == responder
    assert "Fraud flags tripled" in entry.text
    assert "SEV1" in entry.text


def test_a_status_change_stamps_the_first_time_it_was_reached(system, lead):
    incident = incident_declare(actor=lead, title="A", systems=[system], harm="harmful")
    contained = incident_status_change(actor=lead, incident=incident, status="contained")
    first_contained_at = contained.contained_at
    incident_status_change(actor=lead, incident=incident, status="investigating")
    again = incident_status_change(actor=lead, incident=incident, status="contained")
    assert first_contained_at is not None
    assert again.contained_at == first_contained_at
    assert AuditEntry.objects.filter(verb="incident.status_change").count() == 3
