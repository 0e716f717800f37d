from datetime import timedelta

from django.utils import timezone

from comms.models import RoomPresence, StatusUpdate

# A room connection that has not pinged for this long is taken to be gone.
PRESENCE_TIMEOUT = timedelta(seconds=90)


def room_people(incident_id: int) -> list[str]:
    """Who has the incident page open right now."""
    fresh = timezone.now() - PRESENCE_TIMEOUT
    names = RoomPresence.objects.filter(incident_id=incident_id, seen_at__gte=fresh).values_list(
        "user__username", flat=True
    )
    return sorted(set(names))


def latest_status_update(incident) -> StatusUpdate | None:
    return StatusUpdate.objects.filter(incident=incident).select_related("author").first()
