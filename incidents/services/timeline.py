"""The incident's timeline: every line of it, and the room's messages."""

from django.db import transaction
from django.utils import timezone

from core.permissions import require
from core.services import actor_of
from incidents import signals
from incidents.errors import IncidentError
from incidents.models import Incident, TimelineEntry

MESSAGE_MAX_LENGTH = 4000


def timeline_record(*, incident, kind: str, actor, text: str, data=None, at=None):
    """Append to the incident's timeline; everyone in its room sees it once committed."""
    user, label = actor_of(actor)
    entry = TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        actor=user,
        actor_label=label,
        text=text,
        data=data or {},
        at=at or timezone.now(),
    )
    signals.timeline_recorded.send(sender=TimelineEntry, entry=entry)
    return entry


def timeline_record_on_open(*, systems, kind: str, actor, text: str, data=None, at=None):
    """Write the same line to the timeline of every open incident of these systems (each
    locked, so it cannot close meanwhile); returns those incidents."""
    incidents = list(Incident.objects.open_for(*systems).select_for_update())
    for incident in incidents:
        timeline_record(incident=incident, kind=kind, actor=actor, text=text, data=data, at=at)
    return incidents


@transaction.atomic
def incident_join(*, actor, incident: Incident) -> None:
    require(actor, "incident.message", incident)
    if not incident.participants.filter(pk=actor.pk).exists():
        incident.participants.add(actor)
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.PEOPLE,
            actor=actor,
            text=f"{actor.get_username()} joined the response.",
        )


@transaction.atomic
def incident_message_post(*, actor, incident: Incident, text: str) -> TimelineEntry:
    """A message in the incident room: on the timeline, for everyone on the page."""
    require(actor, "incident.message", incident)
    text = text.strip()
    if not text:
        raise IncidentError("Write something first.", "text")
    if len(text) > MESSAGE_MAX_LENGTH:
        raise IncidentError(f"Keep a message under {MESSAGE_MAX_LENGTH} characters.", "text")
    incident.participants.add(actor)
    return timeline_record(
        incident=incident, kind=TimelineEntry.Kind.MESSAGE, actor=actor, text=text
    )
