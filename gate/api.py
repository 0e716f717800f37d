"""The gate over HTTP: an AI system asks before an irreversible action, and polls its holds.

`POST /api/v1/systems/{slug}/gate` `{"action", "subject", "event_id"}` →
`{"decision": "allow" | "hold" | "deny", "reason", "hold_id"?}` (token scope `gate`).
`GET` the same URL lists each action type's answer when Failsafe is unreachable, for the
SDK. `GET …/holds/{hold_id}` says what became of a hold.
"""

import json
import logging

from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import error_response
from core.permissions import HasRole
from gate import selectors
from gate.errors import GateError
from gate.models import Hold
from gate.services import decide
from systems.authentication import bearer, card_allows, token_card_for
from systems.models import AISystem, SystemToken

logger = logging.getLogger(__name__)

GATE_SCOPE = SystemToken.Scope.GATE


class GateRequestSerializer(serializers.Serializer):
    action = serializers.CharField(max_length=64)
    subject = serializers.CharField(max_length=200)
    event_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


GateAnswer = inline_serializer(
    "GateAnswer",
    {
        "decision": serializers.ChoiceField(choices=["allow", "hold", "deny"]),
        "reason": serializers.CharField(),
        "hold_id": serializers.UUIDField(required=False),
    },
)


class HoldSerializer(serializers.ModelSerializer):
    hold_id = serializers.UUIDField(source="code")
    system = serializers.CharField(source="system.slug")
    action = serializers.CharField(source="action_type.name")
    decided_by = serializers.CharField(source="decided_by.username", default=None)

    class Meta:
        model = Hold
        fields = [
            "hold_id",
            "system",
            "action",
            "subject",
            "event_id",
            "status",
            "outcome",
            "expired",
            "reason",
            "created_at",
            "expires_at",
            "expires_to",
            "decided_at",
            "decided_by",
            "decision_reason",
        ]


def _fast_values(body: bytes) -> dict | None:
    """The request's fields when they are plainly valid, else None (DRF's path then gives
    the proper 400 with every field)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    action, subject, event_id = data.get("action"), data.get("subject"), data.get("event_id", "")
    if event_id is None:
        event_id = ""
    if not (isinstance(action, str) and isinstance(subject, str) and isinstance(event_id, str)):
        return None
    action, subject = action.strip(), subject.strip()
    if not (0 < len(action) <= 64 and 0 < len(subject) <= 200 and len(event_id) <= 100):
        return None
    return {"action": action, "subject": subject, "event_id": event_id.strip()}


def _answer(decision, hold) -> dict:
    answer = {"decision": decision.decision, "reason": decision.reason}
    if hold is not None:
        answer["hold_id"] = str(hold.code)
    return answer


def fast_decide(request, slug: str) -> HttpResponse | None:
    """A system token's plainly valid request, decided without DRF's machinery (its
    request wrapping, parsing and serializer cost as much as the decision). None sends the
    request down the ordinary path: a person, a refused token, input to be explained."""
    raw = bearer(request)
    if raw is None or not raw.startswith(SystemToken.PREFIX):
        return None
    card = token_card_for(raw)
    if not card_allows(card, slug=slug, scope=GATE_SCOPE):
        return None
    values = _fast_values(request.body)
    if values is None:
        return None
    try:
        decision, hold = decide.gate_decide(system_id=card["system_id"], **values)
    except GateError:
        return None
    except DatabaseError:
        logger.exception("The gate could not decide for %s", slug)
        return None  # the ordinary path tries once more, and answers 503 if it fails too
    return HttpResponse(
        json.dumps(_answer(decision, hold), separators=(",", ":")),
        content_type="application/json",
    )


def _system_id(request, slug) -> int | None:
    if getattr(request.auth, "is_system_token", False):
        return request.auth.system_id  # the permission check matched it to the slug
    return AISystem.objects.filter(slug=slug).values_list("pk", flat=True).first()


class GateView(APIView):
    """Ask before an action of the system's catalog. A system token with scope `gate`, its
    own system only; people may read the unreachable defaults."""

    permission_classes = [HasRole]
    token_scopes = {"post": GATE_SCOPE, "get": GATE_SCOPE}
    role_actions = {"get": "system.view"}

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            fast = fast_decide(request, kwargs["slug"])
            if fast is not None:
                return fast
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(request=GateRequestSerializer, responses={200: GateAnswer})
    def post(self, request, slug):
        data = GateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        # A GateError (an action outside the catalog) goes to core.api's handler: a 400.
        try:
            decision, hold = decide.gate_decide(
                system_id=request.auth.system_id,
                action=values["action"],
                subject=values["subject"],
                event_id=values["event_id"],
            )
        except DatabaseError:
            # The SDK applies the action's declared default on a 5xx, as when unreachable.
            logger.exception("The gate could not decide for %s", slug)
            return error_response(503, "The gate cannot decide right now.")
        return Response(_answer(decision, hold))

    @extend_schema(
        responses={
            200: inline_serializer(
                "GateDefaults",
                {
                    "system": serializers.CharField(),
                    "actions": serializers.ListField(child=serializers.DictField()),
                },
            )
        }
    )
    def get(self, request, slug):
        system_id = _system_id(request, slug)
        if system_id is None:
            return error_response(404, "No system with this slug.")
        return Response({"system": slug, "actions": selectors.unreachable_defaults(system_id)})


class HoldView(APIView):
    """What became of a hold: `pending`, `approved` or `rejected` (by a person, or by its
    expiry to the rule's declared outcome). The AI system polls it with its token."""

    permission_classes = [HasRole]
    token_scopes = {"get": GATE_SCOPE}
    role_actions = {"get": "system.view"}

    @extend_schema(responses={200: HoldSerializer})
    def get(self, request, slug, code):
        hold = (
            Hold.objects.select_related("system", "action_type", "decided_by")
            .filter(code=code, system__slug=slug)
            .first()
        )
        if hold is None:
            return error_response(404, "No such hold for this system.", "hold_id")
        return Response(HoldSerializer(hold).data)
