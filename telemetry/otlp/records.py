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
    """Turns protobuf values into Python ones, refusing NUL and oversized values."""

    def __init__(self, limit: int):
        self.limit = limit

    def text(self, value: str, where: str) -> str:
        if "\x00" in value:
            raise OtlpRefused(400, f"{where}: contains a NUL character.")
        return value

    def attributes(self, pairs, where: str) -> dict:
        found = {}
        for pair in pairs:
            key = self.text(pair.key, f"{where}.attributes")
            at = f"{where}: attribute {key}"
            value, size = self.value(pair.value, at)
            if size > self.limit:
                raise OtlpRefused(
                    400, f"{at}: {size} bytes, over the limit of {self.limit} bytes per value."
                )
            found[key] = value
        return found

    def value(self, value: AnyValue, where: str) -> tuple[object, int]:
        """(the Python value, its size in bytes)."""
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = self.text(value.string_value, where)
            # Most values are short: only a long one is worth encoding to measure.
            size = len(text) if len(text) * 4 <= self.limit else len(text.encode())
            return text, size
        if kind == "bytes_value":
            return value.bytes_value.hex(), len(value.bytes_value)
        if kind == "array_value":
            items = [self.value(item, where) for item in value.array_value.values]
            return [item for item, _ in items], sum(size for _, size in items)
        if kind == "kvlist_value":
            pairs = {}
            total = 0
            for pair in value.kvlist_value.values:
                inner, size = self.value(pair.value, where)
                pairs[self.text(pair.key, where)] = inner
                total += size + len(pair.key)
            return pairs, total
        if kind is None:
            return None, 0
        return getattr(value, kind), 8

    def scope(self, scope_spans, where: str) -> None:
        """What no mapping reads still must not carry a NUL or an oversized value."""
        self.text(scope_spans.scope.name, f"{where}.scope.name")
        self.text(scope_spans.scope.version, f"{where}.scope.version")
        self.attributes(scope_spans.scope.attributes, f"{where}.scope")


def _hex_id(raw: bytes, size: int, where: str) -> str:
    if len(raw) not in (0, size):
        raise OtlpRefused(400, f"{where}: not {size} bytes.")
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


def _span(reader: Reader, span, where: str) -> SpanRecord:
    _hex_id(span.trace_id, 16, f"{where}.traceId")
    _hex_id(span.parent_span_id, 8, f"{where}.parentSpanId")
    span_id = _hex_id(span.span_id, 8, f"{where}.spanId")
    if not span_id:
        raise OtlpRefused(400, f"{where}.spanId: a span needs its id.")
    reader.text(span.trace_state, f"{where}.traceState")
    reader.text(span.status.message, f"{where}.status.message")
    events = []
    for e, event in enumerate(span.events):
        at = f"{where}.events[{e}]"
        events.append(
            (reader.text(event.name, f"{at}.name"), reader.attributes(event.attributes, at))
        )
    for link_number, link in enumerate(span.links):
        at = f"{where}.links[{link_number}]"
        _hex_id(link.trace_id, 16, f"{at}.traceId")
        _hex_id(link.span_id, 8, f"{at}.spanId")
        reader.text(link.trace_state, f"{at}.traceState")
        reader.attributes(link.attributes, at)
    return SpanRecord(
        path=where,
        span_id=span_id,
        name=reader.text(span.name, f"{where}.name"),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        failed=span.status.code == Status.STATUS_CODE_ERROR,
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
    _hex_id(record.trace_id, 16, f"{where}.traceId")
    _, size = reader.value(record.body, f"{where}.body")
    if size > reader.limit:
        raise OtlpRefused(400, f"{where}.body: {size} bytes, over the limit of {reader.limit}.")
    reader.text(record.severity_text, f"{where}.severityText")
    return LogRecord(
        path=where,
        span_id=_hex_id(record.span_id, 8, f"{where}.spanId"),
        event_name=reader.text(record.event_name, f"{where}.eventName"),
        attributes=reader.attributes(record.attributes, where),
    )
