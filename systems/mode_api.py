"""The runtime mode over HTTP: read on every request by AI systems, changed by people.

`GET mode` has a fast path for the case that matters: a system token reading a mode that
has not changed. Both the token and the encoded answer come from the cache in one round
trip, with no database query and none of DRF's machinery. Anything else (a person, a
cache miss, Redis down) takes the ordinary DRF path, which reads the database.
"""

import asyncio
import json
import logging
from collections.abc import Callable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import error_response
from core.permissions import HasRole
from systems import services
from systems.authentication import (
    bearer,
    card_allows,
    card_refusal,
    token_card_for,
    token_key,
)
from systems.mode_feed import SERVICE_ERRORS, mode_group, mode_key
from systems.models import AISystem, Mode, SystemToken
from systems.selectors import mode_entry_for

logger = logging.getLogger(__name__)

MODE_SCOPE = SystemToken.Scope.MODE_READ
# Without a channel layer a stream re-reads the mode this often (and says so as heartbeats).
DEGRADED_POLL_SECONDS = 2

ModeSerializer = inline_serializer(
    "RuntimeMode",
    {
        "system": serializers.CharField(),
        "mode": serializers.ChoiceField(choices=Mode.choices),
        "revision": serializers.IntegerField(),
        "changed_at": serializers.DateTimeField(allow_null=True),
        "changed_by": serializers.CharField(allow_null=True),
        "reason": serializers.CharField(),
        "drill": serializers.BooleanField(),
    },
)


class ModeChangeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices)
    reason = serializers.CharField(max_length=2000)


def cached_answer(request, entry) -> HttpResponse:
    """An encoded answer (`body`, `etag`) as a response, or 304 when the client has it."""
    response: HttpResponse
    if request.META.get("HTTP_IF_NONE_MATCH") == entry["etag"]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(entry["body"], content_type="application/json")
    response["ETag"] = entry["etag"]
    response["Cache-Control"] = "no-cache"
    return response


def fast_read(request, slug: str, *, key: str, scope: str, load) -> HttpResponse | None:
    """A token's read of a cached answer from the cache alone (one round trip to Redis);
    on a miss `load(slug)` fills it from the database once. None sends the request down
    the ordinary path (a person, Redis down, a token that may not)."""
    raw = bearer(request)
    if raw is None or not raw.startswith(SystemToken.PREFIX):
        return None
    keys = [token_key(SystemToken.hash(raw)), key]
    try:
        found = cache.get_many(keys)
    except SERVICE_ERRORS:  # Redis down
        return None
    card = found.get(keys[0]) or token_card_for(raw)
    if not card_allows(card, slug=slug, scope=scope):
        return None  # the ordinary path gives the proper 401 / 403
    entry = found.get(keys[1]) or load(slug)
    return cached_answer(request, entry) if entry else None


class CachedReadView(APIView):
    """A GET that AI systems make on every request, answered from a cached, pre-encoded
    entry: the fast path for a system token, DRF's ordinary path for everyone else."""

    permission_classes = [HasRole]
    read_scope: str
    # Both static: the cache key of a system's entry, and how to load it on a miss.
    cache_key: Callable[[str], str]
    load_entry: Callable[[str], dict | None]

    def dispatch(self, request, *args, **kwargs):
        if request.method == "GET":
            slug = kwargs["slug"]
            fast = fast_read(
                request, slug, key=self.cache_key(slug), scope=self.read_scope, load=self.load_entry
            )
            if fast is not None:
                return fast
        return super().dispatch(request, *args, **kwargs)

    def read(self, request, slug):
        entry = self.load_entry(slug)
        if entry is None:
            return error_response(status.HTTP_404_NOT_FOUND, "No system with this slug.")
        return cached_answer(request, entry)


class ModeView(CachedReadView):
    """A system's runtime mode. AI systems read it on every request (token scope
    `mode:read`), with `If-None-Match` for a 304; people with the responder role change it."""

    role_actions = {"get": "system.view", "post": "mode.change"}
    token_scopes = {"get": MODE_SCOPE}
    read_scope = MODE_SCOPE
    cache_key = staticmethod(mode_key)
    load_entry = staticmethod(mode_entry_for)

    @extend_schema(responses={200: ModeSerializer, 304: OpenApiResponse(description="Unchanged")})
    def get(self, request, slug):
        return self.read(request, slug)

    @extend_schema(request=ModeChangeSerializer, responses={200: ModeSerializer})
    def post(self, request, slug):
        data = ModeChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        system = get_object_or_404(AISystem, slug=slug)
        state = services.mode_change(actor=request.user, system=system, **data.validated_data)
        return Response(json.loads(mode_entry_for(state.system.slug)["body"]))


# A revision is stored as a PostgreSQL integer: anything larger is refused, not a 500.
REVISION_MAX = 2**31 - 1


class ModeAckSerializer(serializers.Serializer):
    client = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$")
    revision = serializers.IntegerField(min_value=0, max_value=REVISION_MAX)


class ModeAckView(APIView):
    """An SDK client reports the revision it acts on: after applying a change, and every
    half minute as a heartbeat. The system page counts these: "3 of 3 clients on OFF"."""

    permission_classes = [HasRole]
    token_scopes = {"post": MODE_SCOPE}

    @extend_schema(request=ModeAckSerializer, responses={204: None})
    def post(self, request, slug):
        data = ModeAckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.mode_client_report(
            # The card's ids are enough to write the rows: no need to load the system.
            system=AISystem(pk=request.auth.system_id, slug=request.auth.system_slug),
            client_id=data.validated_data["client"],
            revision=data.validated_data["revision"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The stream ---------------------------------------------------------------------------


def _sse(event: str, payload: dict, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(payload, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def _stream_error(code: int, message: str) -> HttpResponse:
    body = json.dumps({"errors": [{"field": None, "message": message}]})
    return HttpResponse(body, status=code, content_type="application/json")


def _stream_client(request):
    client = request.GET.get("client", "")
    valid = ModeAckSerializer(data={"client": client, "revision": 0}).is_valid()
    try:
        revision = min(max(0, int(request.GET.get("revision", "0"))), REVISION_MAX)
    except ValueError:
        revision = 0
    return (client if valid else None), revision


@login_not_required
async def mode_stream(request, slug):
    """Server-Sent Events: the mode at once, then every change as it happens, and a
    heartbeat so either side notices a dead connection. A stream that misses a notice
    (Redis down) finds the change on its next heartbeat, from the database."""
    raw = bearer(request)
    card = await database_sync_to_async(token_card_for)(raw) if raw else None
    refusal = card_refusal(card, slug=slug, scope=MODE_SCOPE)
    if refusal == 401:
        return _stream_error(401, "A system token is needed: Authorization: Bearer fsk_…")
    if refusal == 403:
        return _stream_error(403, "This token may not read this system's mode.")
    system = await database_sync_to_async(AISystem.objects.filter(slug=slug).first)()
    if system is None:
        return _stream_error(404, "No system with this slug.")
    client, revision = _stream_client(request)
    response = StreamingHttpResponse(
        _mode_events(system, client, revision), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy must not hold events back
    return response


async def _join(layer, group: str, channel: str | None) -> str | None:
    """The stream's channel, added to the mode's group; None while Redis is away. Called
    again after the channel layer failed: a Redis that restarted has forgotten its groups,
    and a stream that kept listening outside the group would hear of changes only at its
    heartbeats (make faults, scenario 4)."""
    try:
        if channel is None:
            channel = await layer.new_channel()
        await layer.group_add(group, channel)
    except SERVICE_ERRORS:
        return None
    return channel


async def _mode_events(system, client: str | None, revision: int):
    heartbeat = settings.FAILSAFE_MODE_STREAM_HEARTBEAT_SECONDS
    layer, group = get_channel_layer(), mode_group(system.slug)
    channel = await _join(layer, group, None)
    joined = channel is not None
    if not joined:
        logger.warning("Mode stream of %s without the channel layer: heartbeats only", system)
    # database_sync_to_async closes the connection after each call: an open stream must
    # not hold a database connection for as long as it stays open.
    report = database_sync_to_async(services.mode_client_report)
    read_mode = database_sync_to_async(mode_entry_for)
    receiving = None
    try:
        if client:
            await report(system=system, client_id=client, revision=revision, stream_delta=1)
        entry = await read_mode(system.slug)
        last = entry["payload"]["revision"]
        yield _sse("mode", entry["payload"], last)
        while True:
            if not joined:
                joined = (channel := await _join(layer, group, channel)) is not None
            # One receive stays pending across heartbeats: cancelling a channel-layer read
            # every 15 s would be slow to wind down and could drop a message mid-read.
            if joined and receiving is None:
                receiving = asyncio.ensure_future(layer.receive(channel))
            message = await _next_change(receiving, heartbeat)
            if receiving is not None and receiving.done():
                failed = receiving.exception() is not None
                receiving = None
                if failed:  # Redis away: the database check below covers, then rejoin
                    joined = False
                    await asyncio.sleep(DEGRADED_POLL_SECONDS)
            if message is not None and message.get("type") == "bundle.changed":
                # The versions changed, not the mode: the client fetches the new bundle.
                yield _sse("bundle", message["payload"])
                continue
            payload = message.get("payload") if message else None
            if payload is None:  # quiet for a heartbeat: check the truth, then say so
                payload = (await read_mode(system.slug))["payload"]
                if payload["revision"] <= last:
                    yield _sse("heartbeat", {})
                    continue
            if payload["revision"] > last:
                last = payload["revision"]
                yield _sse("mode", payload, last)
    finally:
        if receiving is not None:
            receiving.cancel()
        if channel is not None:
            try:
                await layer.group_discard(group, channel)
            except SERVICE_ERRORS:
                logger.warning("Could not leave the mode group of %s", system)
        if client:
            await report(system=system, client_id=client, revision=0, stream_delta=-1)


async def _next_change(receiving, timeout: float) -> dict | None:
    """The next channel-layer message (a mode or bundle change), or None after `timeout`
    seconds of quiet."""
    if receiving is None:
        # No channel layer (Redis down): look at the database often instead.
        await asyncio.sleep(min(timeout, DEGRADED_POLL_SECONDS))
        return None
    done, _ = await asyncio.wait({receiving}, timeout=timeout)
    if not done:
        return None
    if receiving.exception() is not None:
        logger.warning("Mode stream lost the channel layer: %s", receiving.exception())
        return None
    return receiving.result()
