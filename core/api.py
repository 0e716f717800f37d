"""The API's one error shape: {"errors": [{"field": name or null, "message": text}]}."""

import logging

import psycopg
from django.db import OperationalError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ServiceError

logger = logging.getLogger(__name__)

# How long a client should wait before resending when the database is unreachable: about
# what a PostgreSQL restart takes, so the SDK's retry lands after it rather than inside it.
DATABASE_RETRY_AFTER_SECONDS = 5


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
    # psycopg's own for the services that COPY through its cursor (a deadlock, a restart).
    if isinstance(exc, OperationalError | psycopg.OperationalError):
        # Unreachable, not broken: a 503 the SDK and exporters resend after, not a 500.
        logger.warning("API request refused: the database is unavailable", exc_info=True)
        response = error_response(503, "The database is unavailable; send again shortly.")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": list(_flatten(response.data))}
    return response


def error_response(code: int, message: str, field: str | None = None):
    """An error in the API's one shape, for a view that answers it directly."""
    return Response({"errors": [{"field": field, "message": message}]}, status=code)
