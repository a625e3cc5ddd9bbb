"""One span as the OpenTelemetry protocol carries it, decoded: what make run's OTLP receiver
hands on, what Tempo's /api/traces answer is read back into, and what every view, lab and
test of a trace works with. One decoder, from the protocol's own protobuf messages (the
`opentelemetry-proto` package): Tempo's JSON is that protobuf's JSON mapping, read by
protobuf's own parser."""

import re
from dataclasses import dataclass, field

from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

# A trace id as W3C trace context and OpenTelemetry write it; all zeros is the id of no trace.
TRACE_ID = re.compile(r"[0-9a-f]{32}")
INVALID_TRACE_ID = "0" * 32
KIND = {value: name.removeprefix("SPAN_KIND_") for name, value in ProtoSpan.SpanKind.items()}
STATUS = {value: name.removeprefix("STATUS_CODE_") for name, value in Status.StatusCode.items()}


@dataclass
class Span:
    service: str
    resource: dict
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER
    attributes: dict
    status: str  # UNSET, OK or ERROR
    events: list = field(default_factory=list)  # [(name, attributes)]
    start_ns: int = 0  # Unix time in nanoseconds
    end_ns: int = 0
    # The messages it was decoded from, so that a store can keep the span as the protocol's
    # bytes (runtime/backends/tempo.py) and Tempo's JSON is protobuf's own mapping of them.
    proto: ProtoSpan = field(default=None, repr=False, compare=False)
    resource_proto: object = field(default=None, repr=False, compare=False)

    @property
    def seconds(self):
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def ms(self):
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def failed(self):
        return self.status == "ERROR"


def is_trace_id(text):
    """Whether `text` is a trace id: 32 lowercase hex digits, not all zeros."""
    return bool(TRACE_ID.fullmatch(text)) and text != INVALID_TRACE_ID


def value_of(any_value):
    """An OTLP AnyValue as Python: str, bool, int, float, bytes, a list or a dict."""
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(any_value.kvlist_value.values)
    return getattr(any_value, kind) if kind else None


def attributes_of(key_values):
    return {item.key: value_of(item.value) for item in key_values}


def spans_of_resource_spans(resource_spans):
    """[Span] of an iterable of OTLP ResourceSpans messages (an export, or a stored trace)."""
    found = []
    for batch in resource_spans:
        resource = attributes_of(batch.resource.attributes)
        for scope_spans in batch.scope_spans:
            for span in scope_spans.spans:
                found.append(Span(
                    service=resource.get("service.name", ""),
                    resource=resource,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    name=span.name,
                    kind=KIND[span.kind],
                    attributes=attributes_of(span.attributes),
                    status=STATUS[span.status.code],
                    events=[(event.name, attributes_of(event.attributes)) for event in span.events],
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    proto=span,
                    resource_proto=batch.resource,
                ))
    return found


def resource_spans_of(spans):
    """The ResourceSpans messages that carry `spans` (decoded by spans_of_resource_spans), one
    per resource: the inverse of it, without re-encoding a value."""
    batches = {}
    for span in spans:
        key = span.resource_proto.SerializeToString(deterministic=True)
        if key not in batches:
            batches[key] = ResourceSpans(resource=span.resource_proto)
            batches[key].scope_spans.add()
        batches[key].scope_spans[0].spans.append(span.proto)
    return list(batches.values())
