"""Traces for the labs' in-process tests, as Tempo answers them, and a sandbox whose readings are
those traces, profiles, counters and log lines: make run's or compose's, its addresses and links real."""

import itertools
import time

from backend_apis.spans import resource_spans_of
from backend_apis.tempo import trace_json
from labs.sandbox import Sandbox
from tests.otlp import make_span

MS = 1_000_000
TEMPO = "http://127.0.0.1:3299"
MAKE_RUN = {"urls": {"die-service": "http://127.0.0.1:9103", "dice-roller": "http://127.0.0.1:9104",
                     "frontend": "http://127.0.0.1:9105"},
            "tempo": TEMPO, "pyroscope": "http://127.0.0.1:4099", "logs": "/tmp/labs-test/logs",
            "profile_upload_seconds": 2}


class Trace:
    """A trace built span by span, times in ms from its start; it ended `ended_seconds_ago`."""

    def __init__(self, trace_id, length_ms, ended_seconds_ago=60):
        self.trace_id = trace_id
        self.start_ns = int((time.time() - ended_seconds_ago) * 1e9) - int(length_ms * MS)
        self.spans = []
        self._ids = (f"{number:016x}" for number in itertools.count(1))

    def span(self, service, kind, name, start_ms, end_ms, parent="", status="UNSET", **attributes):
        span_id = next(self._ids)
        self.spans.append(make_span(self.trace_id, span_id, parent, service, kind, name,
                                    self.start_ns + int(start_ms * MS), self.start_ns + int(end_ms * MS),
                                    attributes, status))
        return span_id

    def tempo(self):
        """Tempo's JSON of the spans as they are now (a test may have changed one)."""
        spans = [make_span(s.trace_id, s.span_id, s.parent_span_id, s.service, s.kind, s.name, s.start_ns, s.end_ns,
                           s.attributes, s.status) for s in self.spans]
        return trace_json(resource_spans_of(spans))


def roll(trace_id, frontend=2, dice_roller=2, die_service=2, query=1, rolling=50, queued=0, lab="slow-hop",
         ended_seconds_ago=60):
    """A roll of the lab's traffic: each hop spends its own time (ms) before calling the next, the die
    service's query takes `query`, the roll itself `rolling`; `queued` ms pass before the frontend
    takes the request (a request waiting for a thread)."""
    roller_starts = queued + frontend + 2
    die_starts = roller_starts + dice_roller + 2
    die_ends = die_starts + die_service + query + 1
    roll_ends = die_ends + 2 + rolling
    total = roll_ends + 6
    trace = Trace(trace_id, total, ended_seconds_ago)
    user = trace.span("traffic-generator", "INTERNAL", "user rolls die", 0, total, **{"lab.name": lab})
    call = trace.span("traffic-generator", "CLIENT", "GET", 0, total, user)
    front = trace.span("frontend", "SERVER", "GET /roll", queued + 1, total - 1, call,
                       **{"http.route": "/roll", "http.response.status_code": 200})
    forward = trace.span("frontend", "CLIENT", "GET", roller_starts - 1, roll_ends + 3, front)
    roller = trace.span("dice-roller", "SERVER", "GET /roll", roller_starts, roll_ends + 2, forward)
    ask = trace.span("dice-roller", "CLIENT", "GET", die_starts - 1, die_ends + 1, roller)
    die = trace.span("die-service", "SERVER", "GET /dice", die_starts, die_ends, ask)
    trace.span("die-service", "CLIENT", "SELECT die_specifications", die_starts + die_service,
               die_starts + die_service + query, die, **{"db.system.name": "sqlite",
                                                         "db.query.text": "SELECT identifier FROM die_specifications"})
    trace.span("dice-roller", "INTERNAL", "roll die", die_ends + 2, roll_ends, roller, **{"die.type": "fair"})
    return trace


def batch(trace_id, roll_ms=(30, 90, 60), lab="slowest-in-batch"):
    """A batch of len(roll_ms) dice, its rolls overlapping, each as long as given."""
    total = max(roll_ms) + 20
    trace = Trace(trace_id, total)
    user = trace.span("traffic-generator", "INTERNAL", "user rolls die", 0, total, **{"lab.name": lab})
    front = trace.span("frontend", "SERVER", "GET /roll-async", 1, total - 1, user, **{"http.route": "/roll-async"})
    roller = trace.span("dice-roller", "SERVER", "GET /roll-async", 3, total - 3, front,
                        **{"http.route": "/roll-async"})
    for index, milliseconds in enumerate(roll_ms):
        trace.span("dice-roller", "INTERNAL", "roll die", 10, 10 + milliseconds, roller, **{"die.roll_index": index})
    return trace


class RecordedSandbox(Sandbox):
    """A sandbox (make run's, or compose's with `compose=True`) that reads what it is given:
    `traces` [Trace], `profiles` {span id: flame graph}, `counters` {(die, result): value},
    `lines` [log line as JSON]."""

    def __init__(self, traces=(), profiles=None, counters=None, lines=(), compose=False):
        recorded = Sandbox.of_compose() if compose else Sandbox.of_make_run(MAKE_RUN)
        super().__init__(recorded.kind, recorded.urls, recorded.tempo, recorded.run, recorded.pyroscope)
        self.traces = {trace.trace_id: trace for trace in traces}
        self.profiles = profiles or {}
        self.counters = counters or {}
        self.lines = list(lines)

    def get_trace(self, trace_id):
        return self.traces[trace_id].tempo() if trace_id in self.traces else None

    def search(self, **params):
        return [{"traceID": trace_id} for trace_id in self.traces]

    def span_profile(self, service, span_id, since_seconds=3600):
        return self.profiles.get(span_id, {})

    def counter_values(self, service, metric, **labels):
        return {(("die_type", die), ("result", result)): value for (die, result), value in self.counters.items()
                if labels.get("die_type", die) == die}

    def log_lines(self, service, containing):
        return [line for line in self.lines if containing in str(line.values())]
