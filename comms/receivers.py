"""How comms hears incidents (`incidents.signals`): the room shows each timeline entry once
it commits; a change schedules or cancels the status-update reminders and queues webhooks,
in the change's own transaction. Connected in `CommsConfig.ready()`."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from comms import room, webhooks
from comms.models import Reminder, Webhook
from comms.services.status_updates import reminders_cancel, update_schedule
from incidents import signals
from incidents.models import Incident, TimelineEntry


@receiver(signals.timeline_recorded, sender=TimelineEntry)
def room_tell(*, entry, **_):
    transaction.on_commit(lambda: room.room_send_entry(entry))


def _declared(incident: Incident, at) -> None:
    if incident.lead_id is None or not incident.severity:
        Reminder.objects.create(
            incident=incident,
            kind=Reminder.Kind.UNOWNED,
            due_at=at + timedelta(minutes=settings.FAILSAFE_TRIAGE_REMINDER_MINUTES),
        )
    update_schedule(incident, at)
    webhooks.webhook_event_emit(Webhook.Event.INCIDENT_OPENED, incident)


def _status_changed(incident: Incident, at, previous: str) -> None:
    if not incident.is_open:
        incident.next_update_due_at = None
        incident.save(update_fields=["next_update_due_at"])
        for kind in Reminder.Kind.values:
            reminders_cancel(incident, kind, at)
    elif previous == Incident.Status.RESOLVED:
        update_schedule(incident, at)
    if incident.status == Incident.Status.RESOLVED:
        webhooks.webhook_event_emit(Webhook.Event.RESOLVED, incident)


def _action_item_overdue(incident: Incident, item) -> None:
    webhooks.webhook_event_emit(
        Webhook.Event.ACTION_ITEM_OVERDUE,
        incident,
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
def incident_changed(*, incident, change, at, **details):
    if change == signals.DECLARED:
        _declared(incident, at)
    elif change == signals.SEVERITY_CHANGED:
        update_schedule(incident, at)
        webhooks.webhook_event_emit(Webhook.Event.SEVERITY_CHANGED, incident)
    elif change == signals.STATUS_CHANGED:
        _status_changed(incident, at, details["previous"])
    elif change == signals.ACTION_ITEM_OVERDUE:
        _action_item_overdue(incident, details["item"])
