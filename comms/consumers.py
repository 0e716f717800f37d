"""The live incident room: one WebSocket per open incident page.

The page says which entry it saw last; the server sends what it missed (on connect, after
a reconnect, and on every ping), then everything new as it happens. Presence is the set
of people with a live connection, refreshed by the pings.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from comms import room
from comms.models import RoomPresence
from comms.selectors import room_people
from core.roles import can
from incidents.models import Incident, TimelineEntry


class IncidentRoomConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.number = int(self.scope["url_route"]["kwargs"]["number"])
        self.group = room.room_group(self.number)
        self.incident_id = await self._incident_id(self.scope.get("user"))
        if self.incident_id is None:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._present()

    async def disconnect(self, code):
        if getattr(self, "incident_id", None) is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await database_sync_to_async(
            RoomPresence.objects.filter(channel_name=self.channel_name).delete
        )()
        await self._broadcast_presence()

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") not in ("hello", "ping"):
            return
        after = content.get("after")
        after = after if isinstance(after, int) and after >= 0 else 0
        missed, more = await self._entries_after(after)
        for message in missed:
            await self.send_json(message)
        if more:
            await self.send_json({"type": "reload"})
        if content["type"] == "ping":
            await self._seen()

    async def room_entry(self, event):
        await self.send_json(event["message"])

    async def room_presence(self, event):
        await self.send_json({"type": "presence", "people": event["people"]})

    @database_sync_to_async
    def _incident_id(self, user):
        if not can(user, "incident.view"):
            return None
        return Incident.objects.filter(number=self.number).values_list("pk", flat=True).first()

    @database_sync_to_async
    def _entries_after(self, after: int):
        entries = list(
            TimelineEntry.objects.filter(incident_id=self.incident_id, pk__gt=after)
            .select_related("incident")
            .order_by("pk")[: room.CATCH_UP_LIMIT + 1]
        )
        more = len(entries) > room.CATCH_UP_LIMIT
        return [room.entry_message(e) for e in entries[: room.CATCH_UP_LIMIT]], more

    @database_sync_to_async
    def _record_presence(self):
        RoomPresence.objects.update_or_create(
            channel_name=self.channel_name,
            defaults={
                "incident_id": self.incident_id,
                "user": self.scope["user"],
                "seen_at": timezone.now(),
            },
        )

    async def _present(self):
        await self._record_presence()
        await self._broadcast_presence()

    @database_sync_to_async
    def _seen(self):
        RoomPresence.objects.filter(channel_name=self.channel_name).update(seen_at=timezone.now())

    @database_sync_to_async
    def _people(self) -> list[str]:
        return room_people(self.incident_id)

    async def _broadcast_presence(self):
        people = await self._people()
        await self.channel_layer.group_send(self.group, {"type": "room.presence", "people": people})
