"""Status updates at the severity's cadence, and the reminders that chase them."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from comms import webhooks
from comms.models import Reminder, StatusUpdate, Webhook
from core.permissions import require
from core.services import audit_record
from incidents import severity
from incidents.errors import IncidentError
from incidents.models import Incident, TimelineEntry
from incidents.services.timeline import timeline_record

UPDATE_FIELD_MAX = 4000


def reminders_cancel(incident: Incident, kind: str, now) -> None:
    Reminder.objects.filter(incident=incident, kind=kind, done_at=None).update(done_at=now)


def update_owed(incident: Incident, due, now) -> None:
    """The next status update is owed at `due` (None: none is owed), chased by a reminder."""
    incident.next_update_due_at = due
    incident.save(update_fields=["next_update_due_at"])
    reminders_cancel(incident, Reminder.Kind.UPDATE_OVERDUE, now)
    if due:
        Reminder.objects.create(incident=incident, kind=Reminder.Kind.UPDATE_OVERDUE, due_at=due)


def update_schedule(incident: Incident, now) -> None:
    """After a change of severity or status: the next update at the cadence, never later
    than one already owed."""
    cadence = severity.update_cadence(incident.severity) if incident.is_open else None
    due = now + cadence if cadence else None
    if incident.next_update_due_at and due:
        due = min(due, incident.next_update_due_at)
    if due != incident.next_update_due_at:
        update_owed(incident, due, now)


@transaction.atomic
def status_update_post(
    *, actor, incident: Incident, known: str, doing: str, next_update_at=None
) -> StatusUpdate:
    """Post the structured update; the next one falls due at `next_update_at`, or one
    cadence from now."""
    require(actor, "incident.update", incident)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if not incident.is_open:
        raise IncidentError("Updates are posted while the incident is open.")
    known, doing = known.strip(), doing.strip()
    for field, value in (("known", known), ("doing", doing)):
        if not value:
            raise IncidentError("Say something here: it is what people will read.", field)
        if len(value) > UPDATE_FIELD_MAX:
            raise IncidentError(f"Keep it under {UPDATE_FIELD_MAX} characters.", field)
    now = timezone.now()
    cadence = severity.update_cadence(incident.severity)
    if next_update_at is not None and next_update_at <= now:
        raise IncidentError("The next update must be in the future.", "next_update_at")
    if next_update_at is not None and cadence and next_update_at > now + cadence:
        minutes = int(cadence.total_seconds() // 60)
        raise IncidentError(
            f"A {incident.severity} owes an update at least every {minutes} minutes.",
            "next_update_at",
        )
    due = next_update_at or (now + cadence if cadence else None)
    update = StatusUpdate.objects.create(
        incident=incident,
        author=actor,
        posted_at=now,
        known=known,
        doing=doing,
        next_update_at=due,
    )
    update_owed(incident, due, now)
    audit_record(
        actor=actor,
        verb="incident.status_update",
        target=incident,
        after={"known": known, "doing": doing, "next_update_at": due},
    )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.STATUS_UPDATE,
        actor=actor,
        at=now,
        text=f"What we know: {known}\nWhat we are doing: {doing}",
        data={"next_update_at": due.isoformat() if due else None},
    )
    return update


def _still_needed(reminder: Reminder, incident: Incident) -> str:
    """What to say, or '' when the reminder no longer applies."""
    if not incident.is_open:
        return ""
    if reminder.kind == Reminder.Kind.UPDATE_OVERDUE:
        due = incident.next_update_due_at
        if due is None or due > reminder.due_at:
            return ""  # an update was posted since: nothing is overdue
        return (
            f"Status update overdue: a {incident.severity} owes one by "
            f"{due:%H:%M} UTC. Post what we know and what we are doing."
        )
    missing = [
        what
        for what, absent in (("lead", not incident.lead_id), ("severity", not incident.severity))
        if absent
    ]
    if not missing:
        return ""
    return f"This incident still has no {' and no '.join(missing)}. Take the lead, or classify it."


def reminder_send(pk: int, now=None) -> bool:
    """Claim one due reminder and send it. True only for the one caller that sent it."""
    now = now or timezone.now()
    incident_id = Reminder.objects.filter(pk=pk).values_list("incident_id", flat=True).first()
    if incident_id is None:
        return False
    with transaction.atomic():
        # Lock the incident first, as every incident change does, so no two lock orders meet.
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        # The claim: of any number of workers, exactly one turns done_at from NULL.
        claimed = Reminder.objects.filter(pk=pk, done_at=None, due_at__lte=now).update(done_at=now)
        if not claimed:
            return False
        reminder = Reminder.objects.get(pk=pk)
        text = _still_needed(reminder, incident)
        if not text:
            return False
        Reminder.objects.filter(pk=pk).update(sent=True)
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.REMINDER,
            actor=None,
            at=now,
            text=text,
            data={"reminder": reminder.kind},
        )
        if reminder.kind == Reminder.Kind.UPDATE_OVERDUE:
            webhooks.webhook_event_emit(Webhook.Event.UPDATE_OVERDUE, incident, change=text, at=now)
            cadence = severity.update_cadence(incident.severity)
            if cadence:
                # Still overdue a cadence later: one more reminder then, not one per tick.
                Reminder.objects.create(
                    incident=incident,
                    kind=Reminder.Kind.UPDATE_OVERDUE,
                    due_at=max(reminder.due_at + cadence, now + timedelta(minutes=1)),
                )
        else:
            webhooks.webhook_event_emit(Webhook.Event.UNOWNED, incident, change=text, at=now)
        return True


def reminders_send_due(now=None, limit: int = 200) -> int:
    """The sweep run by beat: send every reminder that is due. Returns how many were sent."""
    now = now or timezone.now()
    due = Reminder.objects.filter(done_at=None, due_at__lte=now).values_list("pk", flat=True)
    return sum(reminder_send(pk, now) for pk in list(due[:limit]))
