"""Reading an OTLP/HTTP request's body: its media type, gzip, and the protobuf or JSON
message. Pure: it raises `OtlpRefused` for anything that is not a well-formed request.

OTLP JSON writes trace and span ids as hex where protobuf's JSON mapping expects base64,
so they are converted here before `json_format.ParseDict`; a wrong one is refused naming
its field."""

import base64
import json
import re
import zlib

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from telemetry.errors import OtlpRefused

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# (list of resources, their scopes, the items of a scope) per signal, as OTLP JSON spells them.
TRACES = ("resourceSpans", "scopeSpans", "spans")
LOGS = ("resourceLogs", "scopeLogs", "logRecords")
# Each id field and its length in bytes; proto3 JSON may spell a field in snake_case too.
ID_FIELDS = {
    "traceId": 16,
    "trace_id": 16,
    "spanId": 8,
    "span_id": 8,
    "parentSpanId": 8,
    "parent_span_id": 8,
}
HEX = re.compile(r"[0-9a-fA-F]*")


def media_type(content_type: str) -> str | None:
    """PROTOBUF or JSON for a Content-Type header (parameters ignored), else None."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in (PROTOBUF, JSON) else None


def body_inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent, or gunzipped; never more than `limit` bytes (a gzip bomb is a 413)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise OtlpRefused(415, f"Content-Encoding {encoding!r} is not supported: gzip or none.")
    out = bytearray()
    rest = body
    while rest:  # a gzip stream may hold several members, one after the other
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as error:
            raise OtlpRefused(400, f"The body is not valid gzip: {error}.") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise OtlpRefused(413, f"The body inflates to more than {limit} bytes.")
        if not inflater.eof:
            raise OtlpRefused(400, "The gzip stream is truncated.")
        rest = inflater.unused_data
    return bytes(out)


def request_decode(body: bytes, media: str, message: Message, names: tuple[str, str, str]):
    """Fill `message` (an empty Export…ServiceRequest) from the body and answer it."""
    if not body:
        raise OtlpRefused(400, "The body is empty: send an OTLP export request.")
    kind = type(message).__name__
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as error:
            raise OtlpRefused(400, f"Not a protobuf {kind}: {error}.") from None
        return message
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise OtlpRefused(400, f"Not JSON: {error}.") from None
    if not isinstance(data, dict):
        raise OtlpRefused(400, f"A JSON {kind} is an object.")
    ids_from_hex(data, names)
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise OtlpRefused(400, f"Not an OTLP JSON {kind}: {error}") from None
    return message


def _items(parent, key: str, path: str):
    items = parent.get(key) if isinstance(parent, dict) else None
    if isinstance(items, list):
        for n, item in enumerate(items):
            if isinstance(item, dict):
                yield item, f"{path}{'.' if path else ''}{key}[{n}]"


def ids_from_hex(data: dict, names: tuple[str, str, str]) -> None:
    """Rewrite every hex id of a parsed OTLP JSON request as base64, in place."""
    resources, scopes, records = names
    for resource, resource_path in _items(data, resources, ""):
        for scope, scope_path in _items(resource, scopes, resource_path):
            for record, path in _items(scope, records, scope_path):
                _id_fields(record, path)
                for link, link_path in _items(record, "links", path):
                    _id_fields(link, link_path)


def _id_fields(record: dict, path: str) -> None:
    for field, size in ID_FIELDS.items():
        value = record.get(field)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) != 2 * size or not HEX.fullmatch(value):
            raise OtlpRefused(400, f"{path}.{field}: not {2 * size} hex characters.")
        record[field] = base64.b64encode(bytes.fromhex(value)).decode()
