"""How comms hears incidents (`incidents.signals`): the room shows each timeline entry once
it commits; a change schedules or cancels the status-update reminders and queues the
notification channels' deliveries, in the change's own transaction. Connected in
`CommsConfig.ready()`."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from comms import room, webhooks
from comms.models import Reminder, Webhook
from comms.services.status_updates import reminders_cancel, update_schedule
from core.services import actor_of
from incidents import signals
from incidents.models import Incident, TimelineEntry


@receiver(signals.timeline_recorded, sender=TimelineEntry)
def room_tell(*, entry, **_):
    transaction.on_commit(lambda: room.room_send_entry(entry))


def _timeline_event(entry: TimelineEntry) -> tuple[str, dict] | None:
    """The channels' event a timeline entry is, with its facts: a system's mode changed
    (a drill keeps the mode: none), or an alert was raised (its resolution or its
    acknowledgement at the tool that sent it: none)."""
    data = entry.data or {}
    if entry.kind == TimelineEntry.Kind.MODE and not data.get("drill"):
        mode = {key: data.get(key) for key in ("system", "from", "to", "revision")}
        return Webhook.Event.MODE_CHANGED, {"mode": mode}
    if entry.kind == TimelineEntry.Kind.ALERT and not (
        data.get("resolved") or data.get("acknowledged")
    ):
        return Webhook.Event.ALERT_RAISED, {"alert": {"id": data.get("alert")}}
    return None


@receiver(signals.timeline_recorded, sender=TimelineEntry)
def webhook_on_timeline(*, entry, **_):
    """Mode changes (`systems.signals.mode_changed`, recorded by incidents on every open
    incident of the system) and alerts reach an incident through its timeline: the
    channels hear them there, once per incident, with the timeline's line as the change."""
    found = _timeline_event(entry)
    if found:
        event, extra = found
        webhooks.webhook_event_emit(
            event, entry.incident, change=entry.text, at=entry.at, extra=extra
        )


def _declared(incident: Incident, actor, at) -> None:
    if incident.lead_id is None or not incident.severity:
        Reminder.objects.create(
            incident=incident,
            kind=Reminder.Kind.UNOWNED,
            due_at=at + timedelta(minutes=settings.FAILSAFE_TRIAGE_REMINDER_MINUTES),
        )
    update_schedule(incident, at)
    how = "Opened by an alert of" if incident.source == Incident.Source.ALERT else "Declared by"
    webhooks.webhook_event_emit(
        Webhook.Event.INCIDENT_OPENED,
        incident,
        change=f"{how} {actor_of(actor)[1]}, severity {incident.severity or 'unclassified'}.",
        at=at,
    )


def _status_changed(incident: Incident, actor, at, previous: str) -> None:
    if not incident.is_open:
        incident.next_update_due_at = None
        incident.save(update_fields=["next_update_due_at"])
        for kind in Reminder.Kind.values:
            reminders_cancel(incident, kind, at)
    elif previous == Incident.Status.RESOLVED:
        update_schedule(incident, at)
    if incident.status == Incident.Status.RESOLVED:
        webhooks.webhook_event_emit(
            Webhook.Event.RESOLVED,
            incident,
            change=f"Status {previous} → resolved, by {actor_of(actor)[1]}.",
            at=at,
        )


def _action_item_overdue(incident: Incident, item, at) -> None:
    webhooks.webhook_event_emit(
        Webhook.Event.ACTION_ITEM_OVERDUE,
        incident,
        change=f"“{item.title}” (owner {item.owner.get_username()}) was due {item.due:%Y-%m-%d}.",
        at=at,
        extra={
            "action_item": {
                "title": item.title,
                "owner": item.owner.get_username(),
                "due": item.due.isoformat(),
                "category": item.category,
            }
        },
    )


@receiver(signals.incident_changed, sender=Incident)
def incident_changed(*, incident, change, actor, at, **details):
    if change == signals.DECLARED:
        _declared(incident, actor, at)
    elif change == signals.SEVERITY_CHANGED:
        update_schedule(incident, at)
        webhooks.webhook_event_emit(
            Webhook.Event.SEVERITY_CHANGED,
            incident,
            change=f"Severity set to {incident.severity} by {actor_of(actor)[1]}.",
            at=at,
        )
    elif change == signals.STATUS_CHANGED:
        _status_changed(incident, actor, at, details["previous"])
    elif change == signals.ACTION_ITEM_OVERDUE:
        _action_item_overdue(incident, details["item"], at)
