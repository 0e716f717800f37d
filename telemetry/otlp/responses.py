"""OTLP/HTTP answers, in the request's encoding: the export response (with its partial
success when spans or log records were rejected, or a warning), or a `google.rpc.Status`
for a refused request."""

from django.http import HttpResponse
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from telemetry.otlp.decode import PROTOBUF

# The gRPC code a Status carries for each HTTP status the receiver answers.
RPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def encoded(message: Message, media: str, status: int = 200) -> HttpResponse:
    if media == PROTOBUF:
        return HttpResponse(message.SerializeToString(), status=status, content_type=PROTOBUF)
    return HttpResponse(
        json_format.MessageToJson(message, indent=None),
        status=status,
        content_type="application/json",
    )


def export_answer(
    media: str, answer: Message, rejected_field: str, rejected: int, message: str
) -> HttpResponse:
    """`answer` (an empty Export…ServiceResponse) with its partial success, when there is
    something to say; `rejected_field` is rejected_spans or rejected_log_records."""
    if rejected or message:
        setattr(answer.partial_success, rejected_field, rejected)
        answer.partial_success.error_message = message
    return encoded(answer, media)


def refusal(media: str, status: int, message: str, retry_after: int | None = None):
    response = encoded(status_pb2.Status(code=RPC_CODES[status], message=message), media, status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
