"""A real OTLP/HTTP trace receiver on loopback, for the tests and the benchmark: decodes
what the services' exporters send."""

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from runtime.loopback import LoopbackHttpServer, reply

KIND = {value: name.removeprefix("SPAN_KIND_") for name, value in ProtoSpan.SpanKind.items()}


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attributes(key_values):
    return {item.key: _value(item.value) for item in key_values}


@dataclass
class ReceivedSpan:
    service: str
    resource: dict
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    attributes: dict
    status_error: bool
    status: str  # UNSET, OK or ERROR
    events: list = field(default_factory=list)
    start_ns: int = 0  # Unix time in nanoseconds, as the span was exported
    end_ns: int = 0

    @property
    def seconds(self):
        return (self.end_ns - self.start_ns) / 1e9


class OtlpReceiver(LoopbackHttpServer):
    def __init__(self, on_spans=None, keep=True):
        """`on_spans(spans)`, if given, is told of each export's spans as they arrive. With
        `keep=False` the receiver holds none itself (make run's trace view keeps a bounded
        store of its own): `traces()` is then empty."""
        self.spans = []
        self._keep = keep
        self._on_spans = on_spans
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver._store(ExportTraceServiceRequest.FromString(body))
                reply(self, 200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString())

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.endpoint = self.url

    def _store(self, request):
        received = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=resource.get("service.name"),
                            resource=resource,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=KIND[span.kind],
                            attributes=_attributes(span.attributes),
                            status_error=span.status.code == Status.STATUS_CODE_ERROR,
                            status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                            events=[(event.name, _attributes(event.attributes)) for event in span.events],
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                        )
                    )
        if self._keep:
            with self._lock:
                self.spans.extend(received)
        if self._on_spans:
            self._on_spans(received)

    def traces(self):
        """{trace_id: [spans]} of everything received so far."""
        with self._lock:
            spans = list(self.spans)
        grouped = {}
        for span in spans:
            grouped.setdefault(span.trace_id, []).append(span)
        return grouped

    def wait_for(self, condition, timeout=15.0):
        """Polls until condition(self.traces()) is true; returns the traces either way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            traces = self.traces()
            if condition(traces):
                return traces
            time.sleep(0.1)
        return self.traces()

