"""An OTLP/HTTP trace receiver on loopback: what make run, the benchmark and the tests receive
the services' spans with, decoded (backend_apis/spans.py). make run's listens where any
exporter sends by default, 127.0.0.1:4318, and on a free port when that is taken."""

import threading
import time

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from backend_apis.spans import spans_of_resource_spans
from runtime.backends.http import LoopbackHandler, LoopbackServer, Refused

# The OTLP/HTTP default port: an exporter with no endpoint set sends to localhost:4318.
OTLP_HTTP_PORT = 4318
TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"


class OtlpReceiver(LoopbackServer):
    """Receives OTLP/HTTP traces (protobuf) on `port` (0: a free one), falling back to a free
    port when `port` is taken. `on_spans(spans)`, if given, is told of each export's spans as
    they arrive; with `keep` (the tests') the receiver also holds them all for `traces()`."""

    def __init__(self, on_spans=None, keep=True, port=0):
        self.spans = []
        self._keep = keep
        self._on_spans = on_spans
        self._lock = threading.Lock()
        receiver = self

        class Handler(LoopbackHandler):
            def post(self, url, body):
                if url.path != TRACES_PATH:
                    raise Refused(404, f"only {TRACES_PATH} is received here")
                if self.headers.get("Content-Type", PROTOBUF).split(";")[0].strip() != PROTOBUF:
                    raise Refused(415, f"OTLP/HTTP in protobuf ({PROTOBUF}) only")
                try:
                    request = ExportTraceServiceRequest.FromString(body)
                except DecodeError:
                    raise Refused(400, "not an OTLP ExportTraceServiceRequest") from None
                receiver._store(spans_of_resource_spans(request.resource_spans))
                return 200, PROTOBUF, ExportTraceServiceResponse().SerializeToString()

        super().__init__(Handler, port, fallback=bool(port))
        self.endpoint = self.url

    def _store(self, received):
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
