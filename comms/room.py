"""The live incident room's server side: who gets what, over the channel layer.

One group per incident. A new timeline entry is rendered once and sent to the group;
each page inserts it where it belongs. Pages also ask for what they missed (after a
reconnect, and on every ping), so an entry sent while a socket was down, or from a process
whose channel layer the page cannot hear, still arrives.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

# Entry kinds after which the page reloads its summary (severity, status, people, updates)
# and the communication obligation card.
SUMMARY_KINDS = {
    "declared",
    "severity",
    "status",
    "people",
    "status_update",
    "mode",
    "reminder",
    "communication",
}
CATCH_UP_LIMIT = 500

logger = logging.getLogger(__name__)


def room_group(number: int) -> str:
    return f"incident-{number}"


def entry_html(entry) -> str:
    return render_to_string("incidents/_entry.html", {"entry": entry})


def entry_message(entry) -> dict:
    return {
        "type": "entry",
        "id": entry.pk,
        "kind": entry.kind,
        "refresh": entry.kind in SUMMARY_KINDS,
        "html": entry_html(entry),
    }


def room_send_entry(entry) -> None:
    """Send a committed timeline entry to everyone in its incident's room.

    The entry is already stored: if the channel layer is down, pages catch up on their next
    ping, so a failure here is logged and never undoes or blocks the change.
    """
    try:
        async_to_sync(get_channel_layer().group_send)(
            room_group(entry.incident.number),
            {"type": "room.entry", "message": entry_message(entry)},
        )
    except Exception:
        logger.exception("Could not send timeline entry %s to its room", entry.pk)


def room_send_presence(number: int, people: list[str]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(
            room_group(number), {"type": "room.presence", "people": people}
        )
    except Exception:
        logger.exception("Could not send presence to room %s", number)
