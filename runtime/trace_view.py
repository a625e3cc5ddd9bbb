"""Traces in the terminal, for `make run` on a machine with no collector: the services export
to our own OTLP receiver, and each trace is printed as a tree once it is complete, one line a
span (service, kind, name, duration, status, error.type) and one line an event under it, beside
the services' JSON log lines. The last traces are kept and served as Tempo serves them
(runtime/tempo_api.py), so that the labs read them as they read Tempo under compose."""

import socket
import sys
import threading
import time
from urllib.parse import urlsplit

from ops.settings import SETTINGS, SettingError
from ops.telemetry import tracing_enabled
from runtime.otlp_receiver import OtlpReceiver
from runtime.tempo_api import TempoApi, TraceStore

# Where the OpenTelemetry exporters send when nothing says otherwise.
DEFAULT_COLLECTOR = "http://localhost:4318"
# A trace is printed once no span of it has arrived for this long (the services export their
# spans every half second here, each on its own).
QUIET_SECONDS = 1.0
# How often the services' span processors export: traces show up within a second or two.
EXPORT_DELAY_MS = "500"


def wanted(environ):
    """Whether `make run` should show the traces itself: tracing on, OTLP (the default) and no
    endpoint of the user's, and no collector answering at the default one."""
    if not tracing_enabled(environ):
        return False
    try:
        if SETTINGS["OTEL_TRACES_EXPORTER"].read(environ) != "otlp":
            return False
    except SettingError:
        return False  # the services refuse it at start, and say so
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return False
    return not listening(DEFAULT_COLLECTOR)


def listening(url):
    address = urlsplit(url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=0.5):
            return True
    except OSError:
        return False


class TraceView:
    """Receives the services' spans and prints each trace once it is complete."""

    def __init__(self, out=sys.stdout, clock=time.monotonic, tempo_port=None):
        """`tempo_port`: serve the kept traces there (TEMPO_PORT for make run), or not at all."""
        self._out = out
        self._clock = clock
        self.store = TraceStore()
        self.tempo = TempoApi(self.store, port=tempo_port) if tempo_port is not None else None
        self._lock = threading.Lock()
        self._pending = {}  # trace id -> [spans]
        self._last_arrival = {}  # trace id -> clock()
        self._stop = threading.Event()
        self.receiver = OtlpReceiver(on_spans=self.add, keep=False)  # the store keeps what is kept
        self._printer = threading.Thread(target=self._print_finished, name="trace-view", daemon=True)
        self._printer.start()

    def environment(self):
        """What the services need to export here."""
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": EXPORT_DELAY_MS}

    def add(self, spans):
        with self._lock:
            for span in spans:
                self._pending.setdefault(span.trace_id, []).append(span)
                self._last_arrival[span.trace_id] = self._clock()

    def flush(self, everything=False):
        """Prints the traces that are complete (all, with `everything`)."""
        now = self._clock()
        with self._lock:
            done = [trace_id for trace_id, last in self._last_arrival.items()
                    if everything or now - last >= QUIET_SECONDS]
            finished = [(trace_id, self._pending.pop(trace_id)) for trace_id in done]
            for trace_id in done:
                del self._last_arrival[trace_id]
        for trace_id, spans in sorted(finished, key=lambda item: min(span.start_ns for span in item[1])):
            self.store.add(trace_id, spans)
            print(render_trace(trace_id, spans), file=self._out, flush=True)

    def close(self):
        self._stop.set()
        self._printer.join(timeout=2)
        self.flush(everything=True)
        self.receiver.close()
        if self.tempo:
            self.tempo.close()

    def _print_finished(self):
        while not self._stop.wait(0.25):
            self.flush()


def render_trace(trace_id, spans):
    """The trace as an indented tree, parents before children, siblings by start time."""
    ids = {span.span_id for span in spans}
    children = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: span.start_ns)
    roots = children.get(None, [])
    start = min(span.start_ns for span in spans)
    took = (max(span.end_ns for span in spans) - start) / 1e6
    errors = sum(span.status == "ERROR" for span in spans)
    lines = [f"trace {trace_id}  {len(spans)} spans  {took:.0f} ms" + (f"  {errors} ERROR" if errors else "")]

    def walk(span, depth):
        # When it started (from the trace's start) and how long it took: spans that run at the
        # same time, as a batch's rolls, start together.
        name = f"{'  ' * depth}{span.name}"
        status = span.attributes.get("http.response.status_code", "")
        outcome = f"ERROR {status}".strip() if span.status == "ERROR" else str(status)
        timing = f"+{(span.start_ns - start) / 1e6:6.1f} {span.seconds * 1000:7.1f} ms"
        error_type = span.attributes.get("error.type")
        outcome += f" error.type={error_type}" if error_type and str(error_type) != str(status) else ""
        lines.append(f"  {span.service:<12} {span.kind:<8} {name:<28} {timing}  {outcome}".rstrip())
        for event_name, attributes in span.events:  # fault injected, exception
            fields = " ".join(f"{key}={value}" for key, value in attributes.items() if key != "exception.stacktrace")
            lines.append(f"  {'':<12} {'':<8} {'  ' * depth}  · {event_name}  {fields}".rstrip())
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return "\n".join(lines)

