from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.services import audit_record, snapshot
from incidents.models import Incident

INCIDENT_FIELDS = ["number", "title", "severity", "status", "lead", "onset_at", "detected_at"]
STATUS_FIELDS = ["status", "contained_at", "resolved_at", "closed_at"]
# The moment an incident first reaches a status is kept on the incident itself.
STATUS_TIMESTAMPS = {
    Incident.Status.CONTAINED: "contained_at",
    Incident.Status.RESOLVED: "resolved_at",
    Incident.Status.CLOSED: "closed_at",
}
NUMBER_ATTEMPTS = 5


def incident_declare(
    *,
    actor,
    title: str,
    systems,
    severity: str,
    summary: str = "",
    lead=None,
    onset_at=None,
    detected_at=None,
    declared_at=None,
) -> Incident:
    """Open an incident in triage. Two declared at once race for a number: retry."""
    for attempt in range(1, NUMBER_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                number = (Incident.objects.aggregate(n=Max("number"))["n"] or 0) + 1
                incident = Incident.objects.create(
                    number=number,
                    title=title,
                    summary=summary,
                    severity=severity,
                    lead=lead,
                    declared_by=actor,
                    declared_at=declared_at or timezone.now(),
                    onset_at=onset_at,
                    detected_at=detected_at,
                )
                incident.systems.set(systems)
                after = snapshot(incident, INCIDENT_FIELDS)
                after["systems"] = sorted(s.slug for s in systems)
                audit_record(actor=actor, verb="incident.declare", target=incident, after=after)
                return incident
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS:
                raise


@transaction.atomic
def incident_status_change(*, actor, incident: Incident, status: str, reason: str = "", at=None):
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    before = snapshot(incident, STATUS_FIELDS)
    incident.status = status
    stamp = STATUS_TIMESTAMPS.get(status)
    if stamp and getattr(incident, stamp) is None:
        setattr(incident, stamp, at or timezone.now())
    incident.save(update_fields=["status", *STATUS_TIMESTAMPS.values()])
    audit_record(
        actor=actor,
        verb="incident.status_change",
        target=incident,
        before=before,
        after=snapshot(incident, STATUS_FIELDS),
        reason=reason,
    )
    return incident
