"""The OpenFeature Remote Evaluation Protocol (OFREP): a system's mode as a string flag.

A stock OFREP provider in any language, configured with a system token as its bearer
header, evaluates the flag named by the system's slug and gets the mode. The token sees
only its own system: every other key is FLAG_NOT_FOUND.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from systems.authentication import SystemTokenAuthentication
from systems.mode_api import MODE_SCOPE
from systems.selectors import mode_entry_for


class HasModeToken(BasePermission):
    def has_permission(self, request, view):
        token = request.auth
        return bool(getattr(token, "is_system_token", False) and token.is_active)


def _evaluation(entry: dict) -> dict:
    payload = entry["payload"]
    return {
        "key": payload["system"],
        "value": payload["mode"],
        "variant": payload["mode"],
        "reason": "STATIC",
        "metadata": {"revision": payload["revision"], "drill": payload["drill"]},
    }


def _not_found(key: str) -> Response:
    return Response(
        {
            "key": key,
            "errorCode": "FLAG_NOT_FOUND",
            "errorDetails": "A system token evaluates only its own system's mode.",
        },
        status=status.HTTP_404_NOT_FOUND,
    )


class _OfrepView(APIView):
    authentication_classes = [SystemTokenAuthentication]
    permission_classes = [HasModeToken]

    def _own_entry(self, request, key: str):
        token = request.auth
        if not token.allows(MODE_SCOPE, key):
            return None
        return mode_entry_for(key)


class OfrepFlagView(_OfrepView):
    """OFREP single flag evaluation: the flag key is the system's slug."""

    @extend_schema(operation_id="ofrep_evaluate_flag", request=None, responses={200: dict})
    def post(self, request, key):
        entry = self._own_entry(request, key)
        if entry is None:
            return _not_found(key)
        return Response(_evaluation(entry))


class OfrepBulkView(_OfrepView):
    """OFREP bulk evaluation: the one flag this token may read, with an ETag."""

    @extend_schema(operation_id="ofrep_evaluate_flags", request=None, responses={200: dict})
    def post(self, request):
        entry = self._own_entry(request, request.auth.system_slug)
        if entry is None:
            return Response({"flags": []})
        etag = entry["etag"]
        if request.META.get("HTTP_IF_NONE_MATCH") == etag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response({"flags": [_evaluation(entry)]}, headers={"ETag": etag})
