"""Traces in the terminal, for `make run` on a machine with no collector: the services export
to our own OTLP receiver, and each trace is printed as a tree once it is complete, one line a
span (service, kind, name, duration, status, error.type) and one line an event under it, beside
the services' JSON log lines. The last traces are kept and served as Tempo serves them
(runtime/tempo_api.py), so that the labs read them as they read Tempo under compose. With
profiles (runtime/pyroscope_api.py), each SERVER span also gets a line of the CPU it spent and
where: the trace is printed once its services' profiles have arrived, or after PROFILE_WAIT_SECONDS."""

import socket
import sys
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from ops.settings import SETTINGS, SettingError
from ops.telemetry import tracing_enabled
from runtime.otlp_receiver import OtlpReceiver
from runtime.processes import exporting_to
from runtime.pyroscope_api import ProfileStore, PyroscopeApi, top_functions
from runtime.tempo_api import KEPT_TRACES, TempoApi, TraceStore
from runtime.trace_page import render_page, trace_log_lines
from runtime.trace_tree import render_trace, server_spans

# Where the OpenTelemetry exporters send when nothing says otherwise.
DEFAULT_COLLECTOR = "http://localhost:4318"
# A trace is printed once no span of it has arrived for this long (the services export their
# spans every half second here, each on its own).
QUIET_SECONDS = 1.0
# ... or this long when a span's parent has not arrived: a caller of ours, such as the traffic
# generator, exports its spans after the services (every 5 s, the SDK's default) and they are the
# root of the tree.
MISSING_PARENT_SECONDS = 6.0
# How often the services' profiling agents send their samples here, and how long a complete
# trace waits for them before it is printed without.
PROFILE_UPLOAD_SECONDS = "2"
PROFILE_WAIT_SECONDS = 4.0


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

    def __init__(self, out=sys.stdout, clock=time.monotonic, tempo_port=None, pyroscope_port=None, logs_dir=None):
        """`tempo_port`: serve the kept traces there (TEMPO_PORT for make run), or not at all.
        `pyroscope_port`: receive the services' profiles there and serve them as Pyroscope does
        (PYROSCOPE_PORT for make run; a free port when that one is taken, or is 0), or take none
        (no CPU lines). `logs_dir`: the services' log files, whose lines each trace's page shows."""
        self._out = out
        self._clock = clock
        self._logs_dir = logs_dir
        self.store = TraceStore()
        self.profiles = None
        if pyroscope_port is not None:
            try:
                self.profiles = PyroscopeApi(ProfileStore(), port=pyroscope_port)
            except OSError:  # taken: another port, which run.json tells the labs
                self.profiles = PyroscopeApi(ProfileStore(), port=0)
        try:
            self.tempo = TempoApi(self.store, port=tempo_port, page=self.page) if tempo_port is not None else None
        except OSError:
            if self.profiles:
                self.profiles.close()
            raise
        self._lock = threading.Lock()
        self._pending = {}  # trace id -> [spans]
        self._last_arrival = {}  # trace id -> clock()
        self._complete = {}  # trace id -> ([spans], clock() when complete): waiting for its profiles
        self._printed = OrderedDict()  # the ids of the last traces printed, as the store keeps them
        self._stop = threading.Event()
        self.receiver = OtlpReceiver(on_spans=self.add, keep=False)  # the store keeps what is kept
        self._printer = threading.Thread(target=self._print_finished, name="trace-view", daemon=True)
        self._printer.start()

    def environment(self):
        """What the services need to export here."""
        environment = exporting_to(self.receiver.endpoint)
        if self.profiles:
            environment.update(PYROSCOPE_SERVER_ADDRESS=self.profiles.url,
                               PYROSCOPE_UPLOAD_INTERVAL_SECONDS=PROFILE_UPLOAD_SECONDS)
        return environment

    def add(self, spans):
        late = {}
        with self._lock:
            for span in spans:
                if span.trace_id in self._printed:  # printed already: it joins the kept trace
                    late.setdefault(span.trace_id, []).append(span)
                    continue
                self._pending.setdefault(span.trace_id, []).append(span)
                self._last_arrival[span.trace_id] = self._clock()
        for trace_id, spans_of_trace in late.items():
            self.store.add(trace_id, spans_of_trace)
            names = ", ".join(sorted({f"{span.service} {span.name}" for span in spans_of_trace}))
            print(f"trace {trace_id}  +{len(spans_of_trace)} late span{'s' if len(spans_of_trace) > 1 else ''} "
                  f"({names}), kept with it", file=self._out, flush=True)

    def flush(self, everything=False):
        """Keeps the traces that are complete, and prints those whose profiles are in (all, with `everything`)."""
        now = self._clock()
        with self._lock:
            done = [trace_id for trace_id, last in self._last_arrival.items()
                    if everything or now - last >= self._quiet_seconds(self._pending[trace_id])]
            for trace_id in done:
                del self._last_arrival[trace_id]
                spans = self._pending.pop(trace_id)
                self.store.add(trace_id, spans)  # the labs can read it while its profile travels
                self._complete[trace_id] = (spans, now)
            ready = [trace_id for trace_id, (spans, since) in self._complete.items()
                     if everything or now - since >= PROFILE_WAIT_SECONDS or self._profiles_in(spans)]
            finished = [(trace_id, self._complete.pop(trace_id)[0]) for trace_id in ready]
            for trace_id, _ in finished:
                self._printed[trace_id] = True
                while len(self._printed) > KEPT_TRACES:
                    self._printed.popitem(last=False)
        for trace_id, spans in sorted(finished, key=lambda item: min(span.start_ns for span in item[1])):
            print(render_trace(trace_id, spans, self._cpu_of(spans)), file=self._out, flush=True)

    @staticmethod
    def _quiet_seconds(spans):
        ids = {span.span_id for span in spans}
        missing_parent = any(span.parent_span_id and span.parent_span_id not in ids for span in spans)
        return MISSING_PARENT_SECONDS if missing_parent else QUIET_SECONDS

    def page(self, trace_id):
        """The page of a kept trace (runtime/trace_page.py), or None when it is not kept."""
        spans = self.store.get(trace_id)
        if not spans:
            return None
        return render_page(trace_id, spans, self._cpu_of(spans), trace_log_lines(self._logs_dir, trace_id))

    def _profiles_in(self, spans):
        return all(self._profile_arrived(span) for span in server_spans(spans)) if self.profiles else True

    def _profile_arrived(self, span):
        """Whether `span`'s service has sent its samples up to the span's end: it has all of them."""
        return self.profiles.store.received_until(span.service) >= span.end_ns

    def _cpu_of(self, spans):
        """{span id: (CPU ns, top functions) or None when its profile has not arrived} of the SERVER spans."""
        if not self.profiles:
            return {}
        cpu = {}
        for span in server_spans(spans):
            if not self._profile_arrived(span):
                cpu[span.span_id] = None
                continue
            samples = self.profiles.store.select({"service_name": span.service}, span_ids={span.span_id})
            cpu[span.span_id] = (sum(sample.nanoseconds for sample in samples), top_functions(samples))
        return cpu

    def close(self):
        self._stop.set()
        self._printer.join(timeout=2)
        self.flush(everything=True)
        self.receiver.close()
        if self.tempo:
            self.tempo.close()
        if self.profiles:
            self.profiles.close()

    def _print_finished(self):
        while not self._stop.wait(0.25):
            self.flush()
