"""The live incident room, through the real ASGI application and the Redis channel layer."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from comms.models import RoomPresence
from config.asgi import application
from incidents.services.incident import incident_declare, incident_status_change
from incidents.services.timeline import incident_message_post

# Committed data: the consumer's database calls close connections that sit in a transaction.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
WAIT = 3  # seconds: generous for a shared machine; a delivered message takes milliseconds


@pytest.fixture
def incident(system, lead):
    return incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        lead=lead,
        irreversible_actions=True,
    )


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _socket(user, number):
    headers = [ORIGIN] + ([(b"cookie", _cookie(user))] if user else [])
    return WebsocketCommunicator(application, f"/ws/incidents/{number}/", headers=headers)


async def _receive_until(socket, kind, seconds=WAIT):
    """The next message of type `kind`, skipping presence and others on the way."""
    async with asyncio.timeout(seconds):
        while True:
            message = await socket.receive_json_from(timeout=seconds)
            if message["type"] == kind:
                return message


def _run(scenario):
    return async_to_sync(scenario)()


def test_a_message_posted_appears_for_everyone_in_the_room(incident, lead, responder, viewer):
    watchers = [_socket(viewer, incident.number), _socket(lead, incident.number)]

    async def scenario():
        for socket in watchers:
            connected, _ = await socket.connect()
            assert connected
            await socket.send_json_to({"type": "hello", "after": 10**9})
        await sync_to_async(incident_message_post)(
            actor=responder, incident=incident, text="Holds are firing on ordinary refunds"
        )
        for socket in watchers:
            message = await _receive_until(socket, "entry")
            assert "Holds are firing on ordinary refunds" in message["html"]
            assert "rosa" in message["html"]
            await socket.disconnect()

    _run(scenario)


def test_model_text_in_a_message_arrives_escaped(incident, lead, responder):
    socket = _socket(lead, incident.number)

    async def scenario():
        await socket.connect()
        await socket.send_json_to({"type": "hello", "after": 10**9})
        await sync_to_async(incident_message_post)(
            actor=responder, incident=incident, text='The model said <script>alert("x")</script>'
        )
        message = await _receive_until(socket, "entry")
        assert "<script>" not in message["html"]
        assert "&lt;script&gt;" in message["html"]
        await socket.disconnect()

    _run(scenario)


def test_a_status_change_reaches_the_room_and_asks_pages_to_refresh(incident, lead):
    socket = _socket(lead, incident.number)

    async def scenario():
        await socket.connect()
        await socket.send_json_to({"type": "hello", "after": 10**9})
        await sync_to_async(incident_status_change)(
            actor=lead, incident=incident, status="contained"
        )
        message = await _receive_until(socket, "entry")
        assert message["kind"] == "status"
        assert message["refresh"] is True
        await socket.disconnect()

    _run(scenario)


def test_after_a_reconnect_the_page_catches_up_with_what_it_missed(incident, lead, responder):
    socket, again = _socket(lead, incident.number), _socket(lead, incident.number)

    async def scenario():
        await socket.connect()
        await socket.send_json_to({"type": "hello", "after": 0})
        seen = await _receive_until(socket, "entry")  # the declaration
        await socket.disconnect()

        # While the page is away, the response goes on.
        for text in ("first while away", "second while away"):
            await sync_to_async(incident_message_post)(
                actor=responder, incident=incident, text=text
            )

        await again.connect()
        await again.send_json_to({"type": "hello", "after": seen["id"]})
        missed = [await _receive_until(again, "entry") for _ in range(2)]
        assert all(m["id"] > seen["id"] for m in missed)
        await again.disconnect()
        return missed

    missed = _run(scenario)
    assert "first while away" in missed[0]["html"]
    assert "second while away" in missed[1]["html"]


def test_a_ping_also_delivers_entries_the_socket_did_not_hear(incident, lead, responder):
    """Entries written by a process whose channel layer the page cannot hear (the demo's
    worker) still arrive: every ping asks for what came after the last entry seen."""
    socket = _socket(lead, incident.number)

    async def scenario():
        await socket.connect()
        await socket.send_json_to({"type": "hello", "after": 10**9})
        last = await sync_to_async(lambda: incident.timeline.last().pk)()
        await socket.send_json_to({"type": "ping", "after": last - 1})
        message = await _receive_until(socket, "entry")
        assert message["id"] == last
        await socket.disconnect()

    _run(scenario)


def test_presence_lists_who_has_the_page_open(incident, lead, responder):
    first, second = _socket(lead, incident.number), _socket(responder, incident.number)

    async def scenario():
        await first.connect()
        message = await _receive_until(first, "presence")
        assert message["people"] == ["lena"]
        await second.connect()
        message = await _receive_until(first, "presence")
        assert message["people"] == ["lena", "rosa"]
        await second.disconnect()
        message = await _receive_until(first, "presence")
        assert message["people"] == ["lena"]
        await first.disconnect()

    _run(scenario)
    assert RoomPresence.objects.count() == 0


@pytest.mark.parametrize("who", ["outsider", None])
def test_someone_without_a_role_cannot_open_the_room(request, incident, who):
    user = request.getfixturevalue(who) if who else None
    socket = _socket(user, incident.number)

    async def scenario():
        connected, code = await socket.connect()
        return connected, code

    connected, code = _run(scenario)
    assert not connected
    assert code == 4403


def test_a_page_from_another_site_cannot_open_the_room(incident, lead):
    socket = WebsocketCommunicator(
        application,
        f"/ws/incidents/{incident.number}/",
        headers=[(b"origin", b"https://evil.example"), (b"cookie", _cookie(lead))],
    )

    async def scenario():
        connected, _ = await socket.connect()
        return connected

    assert _run(scenario) is False
