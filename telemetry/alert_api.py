"""Alerts in (docs/TELEMETRY.md, "Alerts in"): `POST /api/v1/alerts/alertmanager` takes an
Alertmanager (or Grafana) webhook notification, `POST /api/v1/alerts/enqueue` a PagerDuty
Events API v2 event. Each reads the body (`alert_intake`), checks the system token, and
calls monitoring's alert services; the token's system is the system alerted on.

Machine endpoints: the token is read here (the PagerDuty one also takes it as the
`routing_key`, since PagerDuty senders cannot set headers), not by DRF's authentication,
and there is no session, so no CSRF token."""

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ServiceError
from monitoring.api import RawBody
from monitoring.models import Alert
from monitoring.services.external_alerts import (
    external_alert_acknowledge,
    external_alert_fire,
    external_alert_resolve,
)
from systems.authentication import TokenCard, bearer, card_refusal, token_card_for
from systems.models import AISystem, SystemToken
from telemetry import alert_intake
from telemetry.alert_intake import Action, AlertPayloadRefused, ExternalAlert

SCOPE = SystemToken.Scope.ALERTS_WRITE
# A notification of a thousand alerts fits; PagerDuty's own limit per event is 512 KB.
MAX_BYTES = 4 * 1024 * 1024


class AlertsRefused(ServiceError):
    """A request refused whole before anything is read into an alert: 401, 403 or 413."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message, field)
        self.status = status


def _body(request) -> bytes:
    too_large = AlertsRefused(413, f"At most {MAX_BYTES} bytes per request.")
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BYTES:
        raise too_large
    body = request._request.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise too_large
    return body


def _token(raw: str | None) -> TokenCard:
    """The sending system's token, active and allowed to send alerts."""
    card = token_card_for(raw) if raw else None
    refusal = card_refusal(card, slug=card["system"] if card else "", scope=SCOPE)
    if refusal == 401 or card is None:
        raise AlertsRefused(401, "A system token is needed (Authorization: Bearer fsk_…), active.")
    if refusal == 403:
        raise AlertsRefused(403, f"This token lacks the scope {SCOPE}.")
    return TokenCard(
        system_slug=card["system"],
        system_id=card["system_id"],
        prefix=card["prefix"],
        scopes=tuple(card["scopes"]),
        is_active=card["active"],
    )


def _check_systems(token: TokenCard, alerts: list[ExternalAlert], field: str) -> None:
    """A token alerts on its own system only, whatever an alert's `system` label says."""
    for index, alert in enumerate(alerts):
        if alert.system and alert.system != token.system_slug:
            raise AlertsRefused(
                403,
                f"The alert names the system “{alert.system}”; this token is "
                f"{token.system_slug}'s, and alerts only on it.",
                field.format(index=index),
            )


def _apply(token: TokenCard, system: AISystem, source: str, alert: ExternalAlert):
    """One alert's change: (the alert, or None when there was none to change; outcome)."""
    fingerprint = alert.fingerprint
    if alert.action == Action.RESOLVE:
        resolved = external_alert_resolve(
            actor=token, system=system, source=source, fingerprint=fingerprint
        )
        return resolved, "resolved"
    if alert.action == Action.ACKNOWLEDGE:
        acknowledged = external_alert_acknowledge(
            actor=token, system=system, source=source, fingerprint=fingerprint
        )
        return acknowledged, "acknowledged"
    fired, created = external_alert_fire(
        actor=token,
        system=system,
        source=source,
        fingerprint=fingerprint,
        summary=alert.summary,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        link=alert.link,
    )
    return fired, "opened" if created else "deduplicated"


class AlertmanagerView(APIView):
    """An Alertmanager webhook notification (payload version 4) or Grafana's
    Alertmanager-compatible one: each alert firing opens (or, while open, is deduplicated
    by its fingerprint), each resolved one resolves. `200 {"opened", "deduplicated",
    "resolved", "unknown"}`; a payload with any problem is refused whole, `400` naming the
    field (`alerts[2].labels`)."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawBody]

    @extend_schema(
        request=dict,
        responses={
            200: dict,
            400: OpenApiResponse(description="Nothing stored; the field at fault named"),
            401: OpenApiResponse(description="No token, or an unknown or revoked one"),
            413: OpenApiResponse(description="More than 4 MiB"),
            403: OpenApiResponse(description="Not alerts:write, or another system's label"),
        },
    )
    def post(self, request):
        try:
            token = _token(bearer(request))
            alerts = alert_intake.alertmanager_read(alert_intake.body_read(_body(request)))
            _check_systems(token, alerts, "alerts[{index}].labels.system")
        except (AlertsRefused, AlertPayloadRefused) as refused:
            return Response({"errors": _problems(refused)}, status=refused.status)
        system = AISystem.objects.get(pk=token.system_id)
        counts = {"opened": 0, "deduplicated": 0, "resolved": 0, "unknown": 0}
        # A notification is taken whole or not at all.
        with transaction.atomic():
            for alert in alerts:
                changed, outcome = _apply(token, system, Alert.Source.ALERTMANAGER, alert)
                counts[outcome if changed else "unknown"] += 1
        return Response(counts)


def _problems(refused: AlertsRefused | AlertPayloadRefused) -> list[dict]:
    """Every problem found, in the API's error shape."""
    found = getattr(refused, "problems", [(refused.api_field, refused.message)])
    return [{"field": field, "message": message} for field, message in found]


def _pagerduty_refusal(refused: AlertsRefused | AlertPayloadRefused) -> Response:
    """PagerDuty's answer to an event it refuses, `status` and `message`, with the API's
    own `errors` (each naming its field)."""
    word = {401: "unauthorized", 403: "forbidden", 413: "too large"}.get(refused.status)
    return Response(
        {
            "status": word or "invalid event",
            "message": refused.message if word else "Event object is invalid",
            "errors": _problems(refused),
        },
        status=refused.status,
    )


class EnqueueView(APIView):
    """A PagerDuty Events API v2 event (`trigger`, `acknowledge`, `resolve`), answered as
    PagerDuty does: `202 {"status": "success", "message": "Event processed", "dedup_key"}`.
    The token is the bearer header or the event's `routing_key`."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawBody]

    @extend_schema(
        request=dict,
        responses={
            202: dict,
            400: OpenApiResponse(description="Nothing stored; the field at fault named"),
            401: OpenApiResponse(description="No token, or an unknown or revoked one"),
            413: OpenApiResponse(description="More than 4 MiB"),
            403: OpenApiResponse(description="Not alerts:write, or another system named"),
        },
    )
    def post(self, request):
        try:
            payload = alert_intake.body_read(_body(request))
            key = payload.get("routing_key") if isinstance(payload, dict) else None
            token = _token(bearer(request) or (key if isinstance(key, str) else None))
            event = alert_intake.pagerduty_read(payload)
            _check_systems(token, [event.alert], "payload.custom_details.system")
            system = AISystem.objects.get(pk=token.system_id)
            alert, _ = _apply(token, system, Alert.Source.PAGERDUTY, event.alert)
        except (AlertsRefused, AlertPayloadRefused) as refused:
            return _pagerduty_refusal(refused)
        dedup_key = alert.fingerprint if alert else event.alert.fingerprint
        return Response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status=status.HTTP_202_ACCEPTED,
        )
