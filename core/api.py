"""The API's one error shape: {"errors": [{"field": name or null, "message": text}]}."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ServiceError


def _flatten(data, prefix=None):
    if isinstance(data, dict):
        if set(data) == {"detail"} and prefix is None:
            yield {"field": None, "message": str(data["detail"])}
            return
        for key, value in data.items():
            field = None if key == "non_field_errors" else key
            path = ".".join(p for p in (prefix, field) if p) or None
            yield from _flatten(value, path)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _flatten(value, f"{prefix}.{index}" if prefix else str(index))
            else:
                yield {"field": prefix, "message": str(value)}
    else:
        yield {"field": prefix, "message": str(data)}


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        set_rollback()
        return error_response(exc.status, exc.message, exc.api_field)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": list(_flatten(response.data))}
    return response


def error_response(code: int, message: str, field: str | None = None):
    """An error in the API's one shape, for a view that answers it directly."""
    return Response({"errors": [{"field": field, "message": message}]}, status=code)
