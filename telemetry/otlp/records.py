"""The spans and log records of a decoded OTLP request as plain Python values, checked on
the way: no string with a NUL character (PostgreSQL stores none), no attribute value over
the size limit, ids of the right length. Pure; a problem refuses the whole request
(`OtlpRefused`, 400) naming the span or record and the attribute.

Paths follow OTLP JSON's field names (`resourceSpans[0].scopeSpans[1].spans[3]`) whichever
encoding the request came in."""

from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from telemetry.errors import OtlpRefused

# AnyValue's kinds whose size (8 bytes) is within any limit.
NUMBERS = frozenset(("int_value", "double_value", "bool_value"))


@dataclass(slots=True)
class SpanRecord:
    path: str
    span_id: str  # 16 lowercase hex characters
    name: str
    start_ns: int
    end_ns: int
    failed: bool  # status ERROR
    attributes: dict
    events: list[tuple[str, dict]]


@dataclass(slots=True)
class LogRecord:
    path: str
    span_id: str  # hex, "" when the record belongs to no span
    event_name: str
    attributes: dict


@dataclass(slots=True)
class Resource:
    """One resource of the request: the service that sent it, and what it sent."""

    path: str
    service_name: str
    records: list = field(default_factory=list)


class Reader:
    """Turns protobuf values into Python ones, refusing NUL and oversized values.

    A request of a few hundred spans holds thousands of attribute values, so each check is
    one cheap test and a refusal's message (the path to what is wrong) is built only when
    something is."""

    def __init__(self, limit: int):
        self.limit = limit
        # A string this short is within the limit whatever its characters (4 bytes at most).
        self.short = limit // 4

    def text(self, value: str, where: str, field: str) -> str:
        if "\x00" in value:
            raise OtlpRefused(400, f"{where}{field}: contains a NUL character.")
        return value

    def attributes(self, pairs, where: str) -> dict:
        found = {}
        short = self.short
        for pair in pairs:
            value = pair.value
            text = value.string_value  # most values are strings, most of them short
            if text and len(text) <= short and "\x00" not in text:
                found[pair.key] = text
                continue
            number = value.int_value  # the next most common (token counts); 0 when not one
            if number:
                found[pair.key] = number
                continue
            kind = value.WhichOneof("value")
            if kind in NUMBERS:
                found[pair.key] = getattr(value, kind)
            elif kind == "array_value":
                items = value.array_value.values
                if len(items) == 1:  # a finish reason, an action: one short string
                    text = items[0].string_value
                    if text and len(text) <= short and "\x00" not in text:
                        found[pair.key] = [text]
                        continue
                found[pair.key] = self.array(value, where, pair.key)
            else:
                found[pair.key] = self.checked(value, where, pair.key)
        if "\x00" in "".join(found):
            key = next(key for key in found if "\x00" in key)
            raise OtlpRefused(400, f"{where}.attributes: contains a NUL character ({key!r}).")
        return found

    def array(self, value: AnyValue, where: str, key: str):
        """An array of a few short strings (finish reasons, actions) read at once; any other
        through `checked`."""
        items = [item.string_value for item in value.array_value.values]
        if all(items) and sum(map(len, items)) <= self.short and "\x00" not in "".join(items):
            return items
        return self.checked(value, where, key)

    def checked(self, value: AnyValue, where: str, key: str):
        """A value that is no short string, refused when over the size limit."""
        item, size = self.value(value, where, f": attribute {key}")
        if size > self.limit:
            raise OtlpRefused(
                400,
                f"{where}: attribute {key}: {size} bytes, over the limit of {self.limit} bytes "
                "per value.",
            )
        return item

    def value(self, value: AnyValue, where: str, field: str) -> tuple[object, int]:
        """(the Python value, its size in bytes)."""
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = self.text(value.string_value, where, field)
            size = len(text) if len(text) <= self.short else len(text.encode())
            return text, size
        if kind == "bytes_value":
            return value.bytes_value.hex(), len(value.bytes_value)
        if kind == "array_value":
            items = [self.value(item, where, field) for item in value.array_value.values]
            return [item for item, _ in items], sum(size for _, size in items)
        if kind == "kvlist_value":
            pairs = {}
            total = 0
            for pair in value.kvlist_value.values:
                inner, size = self.value(pair.value, where, field)
                pairs[self.text(pair.key, where, field)] = inner
                total += size + len(pair.key)
            return pairs, total
        if kind is None:
            return None, 0
        return getattr(value, kind), 8

    def scope(self, scope_spans, where: str) -> None:
        """What no mapping reads still must not carry a NUL or an oversized value."""
        scope = scope_spans.scope
        self.text(scope.name, where, ".scope.name")
        self.text(scope.version, where, ".scope.version")
        self.attributes(scope.attributes, f"{where}.scope")


def _hex_id(raw: bytes, size: int, where: str, field: str) -> str:
    if len(raw) not in (0, size):
        raise OtlpRefused(400, f"{where}{field}: not {size} bytes.")
    return raw.hex()


def _resource(reader: Reader, resource, where: str) -> Resource:
    attributes = reader.attributes(resource.attributes, f"{where}.resource")
    name = attributes.get("service.name")
    return Resource(path=where, service_name=name if isinstance(name, str) else "")


def trace_resources(request: ExportTraceServiceRequest, limit: int) -> list[Resource]:
    """Every resource of a traces request with its spans (`SpanRecord`)."""
    reader = Reader(limit)
    resources = []
    for r, resource_spans in enumerate(request.resource_spans):
        where = f"resourceSpans[{r}]"
        resource = _resource(reader, resource_spans.resource, where)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope_path = f"{where}.scopeSpans[{s}]"
            reader.scope(scope_spans, scope_path)
            for n, span in enumerate(scope_spans.spans):
                resource.records.append(_span(reader, span, f"{scope_path}.spans[{n}]"))
        resources.append(resource)
    return resources


def _span_ids_refuse(span, where: str) -> None:
    _hex_id(span.trace_id, 16, where, ".traceId")
    _hex_id(span.parent_span_id, 8, where, ".parentSpanId")
    _hex_id(span.span_id, 8, where, ".spanId")
    raise OtlpRefused(400, f"{where}.spanId: a span needs its id.")


def _links(reader: Reader, links, where: str) -> None:
    for link_number, link in enumerate(links):
        at = f"{where}.links[{link_number}]"
        _hex_id(link.trace_id, 16, at, ".traceId")
        _hex_id(link.span_id, 8, at, ".spanId")
        reader.text(link.trace_state, at, ".traceState")
        reader.attributes(link.attributes, at)


def _span(reader: Reader, span, where: str) -> SpanRecord:
    raw_id = span.span_id
    if (
        len(raw_id) != 8
        or len(span.trace_id) not in (0, 16)
        or len(span.parent_span_id) not in (0, 8)
    ):
        _span_ids_refuse(span, where)
    status = span.status
    name = span.name
    if "\x00" in name + span.trace_state + status.message:
        reader.text(name, where, ".name")
        reader.text(span.trace_state, where, ".traceState")
        reader.text(status.message, where, ".status.message")
    events = []
    for e, event in enumerate(span.events):
        at = f"{where}.events[{e}]"
        events.append(
            (reader.text(event.name, at, ".name"), reader.attributes(event.attributes, at))
        )
    if span.links:  # rare in model calls; even an empty loop costs a container
        _links(reader, span.links, where)
    return SpanRecord(
        path=where,
        span_id=raw_id.hex(),
        name=name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        failed=status.code == Status.STATUS_CODE_ERROR,
        attributes=reader.attributes(span.attributes, where),
        events=events,
    )


def log_resources(request: ExportLogsServiceRequest, limit: int) -> list[Resource]:
    """Every resource of a logs request with its log records (`LogRecord`)."""
    reader = Reader(limit)
    resources = []
    for r, resource_logs in enumerate(request.resource_logs):
        where = f"resourceLogs[{r}]"
        resource = _resource(reader, resource_logs.resource, where)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope_path = f"{where}.scopeLogs[{s}]"
            reader.scope(scope_logs, scope_path)
            for n, record in enumerate(scope_logs.log_records):
                resource.records.append(_log(reader, record, f"{scope_path}.logRecords[{n}]"))
        resources.append(resource)
    return resources


def _log(reader: Reader, record, where: str) -> LogRecord:
    _hex_id(record.trace_id, 16, where, ".traceId")
    _, size = reader.value(record.body, where, ".body")
    if size > reader.limit:
        raise OtlpRefused(400, f"{where}.body: {size} bytes, over the limit of {reader.limit}.")
    reader.text(record.severity_text, where, ".severityText")
    return LogRecord(
        path=where,
        span_id=_hex_id(record.span_id, 8, where, ".spanId"),
        event_name=reader.text(record.event_name, where, ".eventName"),
        attributes=reader.attributes(record.attributes, where),
    )
