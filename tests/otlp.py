"""Spans for in-process tests, made as an exporter makes them: OTLP protobuf messages, decoded
by the very decoder make run's receiver uses (backend_apis/spans.py)."""

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from backend_apis.spans import spans_of_resource_spans


def any_value(value):
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def key_values(attributes):
    return [KeyValue(key=key, value=any_value(value)) for key, value in (attributes or {}).items()]


def make_span(trace_id, span_id, parent, service, kind, name, start_ns, end_ns, attributes=None, status="UNSET",
              events=(), resource=None):
    """One decoded span; ids in hex (a parent of "" for a root), `kind` SERVER, CLIENT... and
    `status` UNSET, OK or ERROR as the decoder names them, `events` [(name, attributes)]."""
    proto = ProtoSpan(
        trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent) if parent else b"", name=name,
        kind=ProtoSpan.SpanKind.Value(f"SPAN_KIND_{kind}"), start_time_unix_nano=start_ns, end_time_unix_nano=end_ns,
        attributes=key_values(attributes), status=Status(code=Status.StatusCode.Value(f"STATUS_CODE_{status}")),
        events=[ProtoSpan.Event(name=event, attributes=key_values(fields)) for event, fields in events],
    )
    batch = ResourceSpans(resource=Resource(attributes=key_values(resource or {"service.name": service})))
    batch.scope_spans.add().spans.append(proto)
    return spans_of_resource_spans([batch])[0]
