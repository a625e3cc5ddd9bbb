"""Traces in the terminal, for `make run`: each trace the OTLP receiver gathers is printed as a
tree once it is complete, one line a span (service, kind, name, duration, status, error.type)
and one line an event under it, and kept in the trace store (runtime/backends/tempo.py) for
the labs and the trace pages. With profiles, each SERVER span also gets a line of the CPU it
spent and where: the trace is printed once its services' profiles have arrived, or after
PROFILE_WAIT_SECONDS; a CPU line still pending then is printed again once it is known."""

import sys
import threading
import time
from collections import OrderedDict

from backend_apis.logs import trace_log_lines
from backend_apis.pyroscope import PROFILE_ID_ATTRIBUTE
from backend_apis.spans import is_trace_id
from runtime.backends.profiles import NO_AGENT, WAITING, top_functions
from runtime.views.page import arriving_page, not_a_trace_id_page, not_seen_page, render_page
from runtime.views.tree import (
    NO_PROFILE,
    PENDING,
    SAMPLED,
    UNPROFILED,
    SpanCpu,
    cpu_summary,
    render_trace,
    server_spans,
)

# A trace is printed once no span of it has arrived for this long (the services export their
# spans every half second here, each on its own).
QUIET_SECONDS = 1.0
# ... or this long when a span's parent has not arrived: a caller of ours, such as the traffic
# generator, exports its spans after the services (every 5 s, the SDK's default) and they are the
# root of the tree.
MISSING_PARENT_SECONDS = 6.0
# How long a complete trace waits for its services' profiles before it is printed without.
PROFILE_WAIT_SECONDS = 4.0
# How many printed traces are remembered, so that a late span of one joins it with a note.
REMEMBERED_TRACES = 10_000
# How long a trace's page waits for a trace still arriving, or not seen yet (its spans come a
# second or two after its roll), before it says so: a "View trace" clicked at once opens the trace.
PAGE_WAIT_SECONDS = 3.0


class TraceView:
    """Receives the services' spans and prints each trace once it is complete."""

    def __init__(self, store, profiles=None, out=sys.stdout, clock=time.monotonic, logs_dir=None,
                 page_wait_seconds=PAGE_WAIT_SECONDS):
        """`store`: where complete traces are kept (a TraceStore). `profiles`: the services'
        CPU samples (a ProfileStore), or None for no CPU lines. `logs_dir`: the services' log
        files, whose lines each trace's page shows."""
        self._out = out
        self._clock = clock
        self._logs_dir = logs_dir
        self._page_wait_seconds = page_wait_seconds
        self.store = store
        self.profiles = profiles
        self._lock = threading.Condition()  # notified as traces are kept: the pages waiting for one wake
        self._printing = threading.Lock()  # the printer thread's flush and close's (or a test's)
        self._pending = {}  # trace id -> [spans]
        self._last_arrival = {}  # trace id -> clock()
        self._complete = {}  # trace id -> ([spans], clock() when complete): waiting for its profiles
        self._printed = OrderedDict()  # the ids of the last traces printed, as the store keeps them
        self._cpu_pending = {}  # trace id -> [its SERVER spans printed with their CPU pending]
        self._stop = threading.Event()
        self._printer = threading.Thread(target=self._print_finished, name="trace-view", daemon=True)
        self._printer.start()

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
            self._say(f"trace {trace_id}  +{len(spans_of_trace)} late span{'s' if len(spans_of_trace) > 1 else ''} "
                      f"({names}), kept with it")

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
            if done:
                self._lock.notify_all()
            ready = [trace_id for trace_id, (spans, since) in self._complete.items()
                     if everything or now - since >= PROFILE_WAIT_SECONDS or self._profiles_in(spans)]
            finished = [(trace_id, self._complete.pop(trace_id)[0]) for trace_id in ready]
            for trace_id, _ in finished:
                self._printed[trace_id] = True
                while len(self._printed) > REMEMBERED_TRACES:
                    self._printed.popitem(last=False)
        with self._printing:
            for trace_id, spans in sorted(finished, key=lambda item: min(span.start_ns for span in item[1])):
                cpu = self._cpu_of(spans)
                self._say(render_trace(trace_id, spans, cpu))
                pending = [span for span in server_spans(spans) if not cpu[span.span_id].resolved] if cpu else []
                if pending:
                    self._cpu_pending[trace_id] = pending
            self._print_resolved_cpu()

    def _print_resolved_cpu(self):
        """A CPU line printed as pending, printed again once its profile has arrived, or its
        window closed without one (the agent sends nothing for a window without a sample)."""
        for trace_id, spans in list(self._cpu_pending.items()):
            for span in list(spans):
                cpu = self._span_cpu(span)
                if cpu.resolved:
                    spans.remove(span)
                    self._say(f"trace {trace_id}  {span.service} {span.name}  · cpu  {cpu_summary(cpu)}")
            if not spans:
                del self._cpu_pending[trace_id]

    def _say(self, text):
        """`text` and its newline in one write: the services' lines share the terminal, from threads
        of their own, and print()'s two writes let one of theirs in between."""
        self._out.write(text + "\n")
        self._out.flush()

    @staticmethod
    def _quiet_seconds(spans):
        ids = {span.span_id for span in spans}
        missing_parent = any(span.parent_span_id and span.parent_span_id not in ids for span in spans)
        return MISSING_PARENT_SECONDS if missing_parent else QUIET_SECONDS

    def page(self, trace_id):
        """(status, HTML) of a trace's page (runtime/views/page.py). A trace not kept yet is waited
        for, up to page_wait_seconds; then a trace still arriving is a page that says so and
        reloads itself, and one with no span here a 404 that says what make run keeps."""
        if not is_trace_id(trace_id):
            return 404, not_a_trace_id_page()
        spans = self.store.get(trace_id)
        if not spans:
            arriving = self._wait_until_kept(trace_id)
            spans = self.store.get(trace_id)
            if not spans:
                return (200, arriving_page(trace_id, arriving)) if arriving else (404, not_seen_page(trace_id))
        log_lines = trace_log_lines(self._logs_dir, trace_id) if self._logs_dir else []
        return 200, render_page(trace_id, spans, self._cpu_of(spans), log_lines)

    def _wait_until_kept(self, trace_id):
        """Waits up to page_wait_seconds for the trace to be kept; how many of its spans are still
        arriving then (0: none)."""
        with self._lock:
            self._lock.wait_for(lambda: trace_id in self._complete or trace_id in self._printed,
                                timeout=self._page_wait_seconds)
            return len(self._pending.get(trace_id, ()))

    def _profiles_in(self, spans):
        return self.profiles is None or all(self._span_cpu(span).resolved for span in server_spans(spans))

    def _cpu_of(self, spans):
        """{span id: SpanCpu} of the SERVER spans ({} without profiles: they go elsewhere, or nowhere)."""
        return {} if self.profiles is None else {span.span_id: self._span_cpu(span) for span in server_spans(spans)}

    def _span_cpu(self, span):
        """What is known of `span`'s CPU: its own samples (those labelled with its id: taken on its
        thread while it ran), once its process has sent them all."""
        if PROFILE_ID_ATTRIBUTE not in span.attributes:
            return SpanCpu(UNPROFILED)
        pid = span.resource.get("process.pid")
        coverage = self.profiles.coverage(span.service, pid, span.end_ns)
        if coverage == WAITING:
            return SpanCpu(PENDING, pid=pid)
        if coverage == NO_AGENT:
            return SpanCpu(NO_PROFILE, pid=pid)
        samples = self.profiles.select({"service_name": span.service}, span_ids={span.span_id})
        return SpanCpu(SAMPLED, sum(sample.nanoseconds for sample in samples), tuple(top_functions(samples)),
                       span.end_ns - span.start_ns, pid)

    def close(self):
        self._stop.set()
        self._printer.join(timeout=2)
        self.flush(everything=True)

    def _print_finished(self):
        while not self._stop.wait(0.25):
            self.flush()
