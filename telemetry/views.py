"""The OTLP/HTTP endpoints (`POST /otlp/v1/traces`, `POST /otlp/v1/logs`) and the intake
panel of a system's monitors page.

Machine endpoints, authenticated by a system token rather than a session: no login
redirect, no CSRF token. Each reads the request (`otlp.decode`, `otlp.records`), calls
the service, and answers in the request's encoding (`otlp.responses`)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import OperationalError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from systems.authentication import bearer, card_refusal, token_card_for
from systems.models import SystemToken
from telemetry import selectors, services
from telemetry.errors import OtlpRefused
from telemetry.otlp import decode, records, responses
from telemetry.otlp.in_flight import IN_FLIGHT

logger = logging.getLogger(__name__)

SCOPE = SystemToken.Scope.EVENTS_WRITE


@dataclass(frozen=True)
class Signal:
    """What differs between the two endpoints."""

    request: type[Message]
    response: type[Message]
    names: tuple[str, str, str]
    read: Callable
    ingest: Callable
    rejected_field: str


TRACES = Signal(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    decode.TRACES,
    records.trace_resources,
    services.spans_ingest,
    "rejected_spans",
)
LOGS = Signal(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    decode.LOGS,
    records.log_resources,
    services.logs_ingest,
    "rejected_log_records",
)


@csrf_exempt
@login_not_required
@require_POST
async def traces(request):
    return await _receive(request, TRACES)


@csrf_exempt
@login_not_required
@require_POST
async def logs(request):
    return await _receive(request, LOGS)


async def _receive(request, signal: Signal):
    """Counted in flight from the moment it arrives: under ASGI the synchronous work of
    every request waits for one thread, so a request queued for it counts too."""
    media = decode.media_type(request.META.get("CONTENT_TYPE", ""))
    answer = media or decode.JSON
    with IN_FLIGHT.slot(settings.FAILSAFE_OTLP_MAX_CONCURRENT) as admitted:
        if not admitted:
            return responses.refusal(answer, 429, "Too many requests in flight.", retry_after=1)
        return await sync_to_async(_answer)(request, signal, media, answer)


def _answer(request, signal: Signal, media: str | None, answer: str):
    try:
        return _export(request, signal, media)
    except OtlpRefused as refused:
        return responses.refusal(answer, refused.status, refused.message)
    except OperationalError:
        logger.warning("OTLP request refused: the database is unavailable", exc_info=True)
        return responses.refusal(answer, 503, "The database is unavailable.", retry_after=5)


def _card(request) -> dict:
    raw = bearer(request)
    card = token_card_for(raw) if raw else None
    refusal = card_refusal(card, slug=card["system"] if card else "", scope=SCOPE)
    if refusal == 401:
        raise OtlpRefused(401, "An active system token is needed: Authorization: Bearer fsk_…")
    if refusal == 403:
        raise OtlpRefused(403, f"This token lacks the scope {SCOPE}.")
    return card  # type: ignore[return-value]


def _body(request) -> bytes:
    limit = settings.FAILSAFE_OTLP_MAX_BYTES
    too_large = OtlpRefused(413, f"At most {limit} bytes per request.")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit():
        raise OtlpRefused(400, "Content-Length is not a number.")
    if int(declared) > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return decode.body_inflate(body, request.META.get("HTTP_CONTENT_ENCODING", ""), limit)


def _export(request, signal: Signal, media: str | None):
    card = _card(request)
    try:
        if media is None:
            raise OtlpRefused(415, f"Send {decode.PROTOBUF} or {decode.JSON}.")
        message = decode.request_decode(_body(request), media, signal.request(), signal.names)
        resources = signal.read(message, settings.FAILSAFE_OTLP_MAX_ATTRIBUTE_BYTES)
    except OtlpRefused as refused:
        services.intake_refuse(system_id=card["system_id"], reason=refused.message)
        raise
    outcome = signal.ingest(system_id=card["system_id"], resources=resources)
    return responses.export_answer(
        media, signal.response(), signal.rejected_field, outcome.rejected, outcome.message
    )


def intake_panel(request, system, form=None) -> dict:
    """The OTLP intake's counts on a system's monitors page (registered in apps.py)."""
    return {"template": "telemetry/_intake_panel.html", "intake": selectors.intake_of(system)}
