"""Changes to the incident itself: declaring, triage, its status and its people."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.permissions import require
from core.roles import Role, role_of
from core.services import audit_record, numbered_create, snapshot
from incidents import lifecycle, severity, signals
from incidents.errors import IncidentError
from incidents.models import ActionItem, Incident, TimelineEntry
from incidents.services.timeline import timeline_record

INCIDENT_FIELDS = ["number", "title", "severity", "status", "lead", "onset_at", "detected_at"]
TRIAGE_FIELDS = ["harm", "irreversible_actions", "severity", "severity_override_reason"]
STATUS_FIELDS = ["status", "closed_as_benign", "contained_at", "resolved_at", "closed_at"]
PEOPLE_FIELDS = ["lead", "scribe", "comms_owner"]
# The moment an incident first reaches a status is kept on the incident itself.
STATUS_TIMESTAMPS = {
    Incident.Status.CONTAINED: "contained_at",
    Incident.Status.RESOLVED: "resolved_at",
    Incident.Status.CLOSED: "closed_at",
}
NUMBER_ATTEMPTS = 5


def _triage(harm: str, irreversible, chosen: str, reason: str) -> tuple[str, str]:
    """(severity, override reason) from the two answers and an optional override."""
    if not harm:
        if chosen:
            raise IncidentError("Answer the harm question to set a severity.", "harm")
        return "", ""
    if harm not in severity.Harm.values:
        raise IncidentError(f"“{harm}” is not one of {', '.join(severity.Harm.values)}.", "harm")
    assessed = severity.assess(harm, bool(irreversible)).severity
    if not chosen or chosen == assessed:
        return assessed, ""
    if chosen not in severity.Severity.values:
        raise IncidentError(f"“{chosen}” is not a severity.", "severity")
    if not reason.strip():
        raise IncidentError(
            f"The scale gives {assessed}; overriding it to {chosen} needs a reason.",
            "severity_override_reason",
        )
    return chosen, reason.strip()


def _severity_text(incident: Incident) -> str:
    """The severity and why, as one sentence ending in a full stop."""
    if not incident.severity:
        return "unclassified."
    if incident.severity_override_reason:
        return (
            f"{incident.severity} (overridden from {incident.severity_assessed}: "
            f"{incident.severity_override_reason})."
        )
    assessed = severity.assess(incident.harm, bool(incident.irreversible_actions))
    return f"{incident.severity}: {assessed.why}"


def incident_declare(
    *,
    actor,
    title: str,
    systems,
    summary: str = "",
    harm: str = "",
    irreversible_actions=None,
    severity: str = "",
    severity_override_reason: str = "",
    lead=None,
    onset_at=None,
    detected_at=None,
    declared_at=None,
    source: str = Incident.Source.PERSON,
) -> Incident:
    """Open an incident in triage. Two declared at once race for a number: retry."""
    if not systems:
        raise IncidentError("Name the AI system (or systems) involved.", "systems")
    chosen, override_reason = _triage(
        harm, irreversible_actions, severity, severity_override_reason
    )
    if override_reason:
        # As in incident_classify: an incident lead, or the person who will lead this one.
        require(actor, "incident.override", Incident(lead=lead))
    declared_at = declared_at or timezone.now()
    opened = "Opened by an alert" if source == Incident.Source.ALERT else "Declared"
    if onset_at and onset_at > declared_at:
        raise IncidentError("The onset cannot be after the incident was declared.", "onset_at")

    def create():
        number = (Incident.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        incident = Incident.objects.create(
            number=number,
            title=title,
            summary=summary,
            source=source,
            harm=harm,
            irreversible_actions=irreversible_actions if harm else None,
            severity=chosen,
            severity_override_reason=override_reason,
            lead=lead,
            declared_by=actor if role_of(actor) else None,
            declared_at=declared_at,
            onset_at=onset_at,
            # A person noticed: that is when it was detected, unless told otherwise.
            detected_at=detected_at or declared_at,
        )
        incident.systems.set(systems)
        after = snapshot(incident, INCIDENT_FIELDS + TRIAGE_FIELDS)
        after["systems"] = sorted(s.slug for s in systems)
        audit_record(actor=actor, verb="incident.declare", target=incident, after=after)
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.DECLARED,
            actor=actor,
            at=declared_at,
            text=f"{opened}: {title}. Severity {_severity_text(incident)}",
        )
        if lead is not None:
            incident.participants.add(lead)
        signals.tell(incident, signals.DECLARED, actor=actor, at=declared_at)
        return incident

    return numbered_create(create, attempts=NUMBER_ATTEMPTS)


EDIT_FIELDS = ["title", "summary", "onset_at"]


@transaction.atomic
def incident_edit(*, actor, incident: Incident, **changes) -> Incident:
    """Correct the title, summary or onset (the onset moves the time to detect)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    unknown = set(changes) - set(EDIT_FIELDS)
    if unknown:
        raise IncidentError(f"Not editable here: {', '.join(sorted(unknown))}.")
    if "title" in changes and not changes["title"].strip():
        raise IncidentError("An incident needs a title.", "title")
    onset = changes.get("onset_at", incident.onset_at)
    if onset and onset > incident.declared_at:
        raise IncidentError("The onset cannot be after the incident was declared.", "onset_at")
    before = snapshot(incident, EDIT_FIELDS)
    for field, value in changes.items():
        setattr(incident, field, value)
    after = snapshot(incident, EDIT_FIELDS)
    if after == before:
        return incident
    incident.save(update_fields=list(changes))
    audit_record(actor=actor, verb="incident.edit", target=incident, before=before, after=after)
    changed = [f.replace("_at", "").replace("_", " ") for f in EDIT_FIELDS if before[f] != after[f]]
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.EDIT,
        actor=actor,
        text=f"Edited the {', '.join(changed)}.",
        data={f: after[f] for f in EDIT_FIELDS if before[f] != after[f]},
    )
    return incident


@transaction.atomic
def incident_classify(
    *,
    actor,
    incident: Incident,
    harm: str,
    irreversible_actions: bool,
    severity: str = "",
    severity_override_reason: str = "",
) -> Incident:
    """Answer the two triage questions again (e.g. escalate a SEV3 once harm is confirmed)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if not incident.is_open:
        raise IncidentError("A resolved or closed incident is not reclassified.")
    if not harm:
        raise IncidentError("Say how bad the outputs were.", "harm")
    chosen, override_reason = _triage(
        harm, irreversible_actions, severity, severity_override_reason
    )
    if override_reason:
        require(actor, "incident.override", incident)
    before = snapshot(incident, TRIAGE_FIELDS)
    incident.harm = harm
    incident.irreversible_actions = bool(irreversible_actions)
    incident.severity = chosen
    incident.severity_override_reason = override_reason
    after = snapshot(incident, TRIAGE_FIELDS)
    if after == before:
        return incident
    incident.save(update_fields=TRIAGE_FIELDS)
    audit_record(
        actor=actor,
        verb="incident.classify",
        target=incident,
        before=before,
        after=after,
        reason=override_reason,
    )
    changed = before["severity"] != chosen
    was = before["severity"] or "unclassified"
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.SEVERITY,
        actor=actor,
        text=(f"Severity {was} → " if changed else "Triage answers changed; severity ")
        + _severity_text(incident),
        data={"from": before["severity"], "to": chosen},
    )
    if changed:
        signals.tell(incident, signals.SEVERITY_CHANGED, actor=actor, at=timezone.now())
    return incident


@transaction.atomic
def incident_status_change(
    *, actor, incident: Incident, status: str, reason: str = "", benign: bool = False, at=None
) -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if status == Incident.Status.CLOSED:
        require(actor, "incident.close", incident)
    try:
        lifecycle.check_transition(
            current=incident.status,
            to=status,
            severity=incident.severity,
            has_postmortem=ActionItem.objects.filter(postmortem__incident=incident).exists(),
            benign=benign,
            reason=reason,
        )
    except lifecycle.TransitionRefused as refused:
        raise IncidentError(str(refused), "status") from refused
    now = at or timezone.now()
    before = snapshot(incident, STATUS_FIELDS)
    reopening = incident.status == Incident.Status.RESOLVED and status != Incident.Status.CLOSED
    incident.status = status
    incident.closed_as_benign = benign
    if reopening:
        incident.resolved_at = None  # time to resolve counts to the final resolution
    stamp = STATUS_TIMESTAMPS.get(Incident.Status(status))
    if stamp and getattr(incident, stamp) is None:
        setattr(incident, stamp, now)
    incident.save(update_fields=STATUS_FIELDS)
    audit_record(
        actor=actor,
        verb="incident.status_change",
        target=incident,
        before=before,
        after=snapshot(incident, STATUS_FIELDS),
        reason=reason,
    )
    label = "closed as a benign shift" if benign else status
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.STATUS,
        actor=actor,
        at=now,
        text=f"Status {before['status']} → {label}." + (f" {reason}" if reason else ""),
        data={"from": before["status"], "to": status, "benign": benign},
    )
    signals.tell(incident, signals.STATUS_CHANGED, actor=actor, at=now, previous=before["status"])
    return incident


def _responder(person, field: str):
    role = role_of(person)
    if role is None or role < Role.RESPONDER:
        raise IncidentError(f"{person.get_username()} is not a responder.", field)


@transaction.atomic
def incident_people_change(*, actor, incident: Incident, **people) -> Incident:
    """Hand over the lead, or name the scribe or comms owner (None takes the role away).

    With no lead, any responder may take the lead themselves; otherwise the lead decides.
    """
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    unknown = set(people) - set(PEOPLE_FIELDS)
    if unknown:
        raise IncidentError(f"Not an incident role: {', '.join(sorted(unknown))}.")
    taking_lead = set(people) == {"lead"} and incident.lead_id is None and people["lead"] == actor
    require(actor, "incident.triage" if taking_lead else "incident.lead", incident)
    if "lead" in people and people["lead"] is None:
        raise IncidentError("An incident always keeps a lead once it has one.", "lead")
    for field, person in people.items():
        if person is not None:
            _responder(person, field)
    before = snapshot(incident, PEOPLE_FIELDS)
    for field, person in people.items():
        setattr(incident, field, person)
    after = snapshot(incident, PEOPLE_FIELDS)
    if after == before:
        return incident
    incident.save(update_fields=list(people))
    incident.participants.add(*(p for p in people.values() if p is not None))
    audit_record(actor=actor, verb="incident.people", target=incident, before=before, after=after)
    names = {"lead": "Lead", "scribe": "Scribe", "comms_owner": "Comms owner"}
    changes = [
        f"{names[f]}: {before[f] or 'nobody'} → {after[f] or 'nobody'}"
        for f in PEOPLE_FIELDS
        if before[f] != after[f]
    ]
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.PEOPLE,
        actor=actor,
        text="; ".join(changes) + ".",
        data={f: after[f] for f in PEOPLE_FIELDS if before[f] != after[f]},
    )
    return incident
