"""A small Pyroscope for `make run`: receives the services' profiles on the agent's own push API
and serves the part of Pyroscope's query API that the labs and a learner's curl use, in
Pyroscope's shapes (Connect, JSON; backend_apis/pyroscope.py), on loopback:

    POST /push.v1.PusherService/Push                          what the agents send (protobuf)
    POST /querier.v1.QuerierService/SelectMergeStacktraces    {profileTypeID, labelSelector, start, end}
    POST /querier.v1.QuerierService/SelectMergeSpanProfile    ... and spanSelector: [span ids]
    GET  /ready

Both queries answer {"flamegraph": {names, levels, total, maxSelf}}. Only CPU is kept, for
the last WINDOW_SECONDS (at most MAX_SAMPLES stacks): a recent window, as a learner reads it."""

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

from backend_apis.pyroscope import CPU_PROFILE_TYPE, PUSH_PATH, PYROSCOPE_PORT, SPAN_PROFILE_PATH, STACKTRACES_PATH
from runtime.backends import protobuf_wire as wire
from runtime.backends.http import LoopbackHandler, LoopbackServer, Refused, inflate

QUERY_PATHS = (STACKTRACES_PATH, SPAN_PROFILE_PATH)
WINDOW_SECONDS = 15 * 60
MAX_SAMPLES = 50_000  # distinct stacks of a push each: about 25 MB at most
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')


@dataclass(frozen=True)
class CpuSample:
    """CPU one stack spent: its service, the span tags of the thread (span_id, span_name,
    trace_id; none outside a SERVER span), its functions from the outermost to the one running."""

    service: str
    labels: dict
    stack: tuple
    nanoseconds: int
    end_ns: int  # the end of the profile it came in (Unix time)


def decode_push(body):
    """The CPU samples of one push: PushRequest {series: [{labels, samples: [{raw_profile}]}]},
    each raw profile a pprof Profile (github.com/google/pprof, proto/profile.proto)."""
    samples = []
    for series in wire.messages(body, 1):
        labels = dict(_pair(label) for label in wire.messages(series, 1))
        if labels.get("__name__") != "process_cpu":
            continue
        for raw_sample in wire.messages(series, 2):
            for profile in wire.messages(raw_sample, 1):
                samples.extend(_pprof_samples(profile, labels.get("service_name", "")))
    return samples


def _pair(label):
    fields = wire.first_values(label)
    return fields.get(1, b"").decode(), fields.get(2, b"").decode()


def _pprof_samples(profile, service):
    if profile[:2] == b"\x1f\x8b":
        profile = inflate(profile)  # within the body limit: a push may carry a gzip bomb
    strings = [text.decode() for text in wire.messages(profile, 6)]
    functions = {}
    for function in wire.messages(profile, 5):
        fields = wire.first_values(function)
        functions[fields.get(1, 0)] = strings[fields.get(2, 0)]
    locations = {}
    for location in wire.messages(profile, 4):
        lines = [wire.first_values(line).get(1, 0) for line in wire.messages(location, 4)]
        # A location's lines go from the inlined function out; pprof's stacks, from the leaf out.
        locations[wire.first_values(location).get(1, 0)] = [functions.get(line, "?") for line in lines]
    header = wire.first_values(profile)
    end_ns = header.get(9, 0) + header.get(10, 0)
    samples = []
    for sample in wire.messages(profile, 2):
        leaf_first = [name for location in wire.varints(sample, 1) for name in locations.get(location, ["?"])]
        values = wire.varints(sample, 2)
        labels = {}
        for label in wire.messages(sample, 3):
            fields = wire.first_values(label)
            labels[strings[fields.get(1, 0)]] = strings[fields.get(2, 0)]
        samples.append(CpuSample(service, labels, tuple(reversed(leaf_first)), values[0] if values else 0, end_ns))
    return samples


class ProfileStore:
    """The CPU samples of the last `window_seconds`, at most `max_samples` of them, also by span:
    make run asks for a few spans' samples with every trace it prints, never for a scan of all."""

    def __init__(self, window_seconds=WINDOW_SECONDS, max_samples=MAX_SAMPLES, clock=time.time):
        self._window_ns = window_seconds * 1e9
        self._max_samples = max_samples
        self._samples = deque()  # oldest first
        self._by_span = {}  # span id -> deque of its samples, oldest first
        self._clock = clock
        self._lock = threading.Lock()
        self._received_until = {}  # service -> the end of the newest profile it sent (ns)

    def add(self, samples, received_until=None):
        with self._lock:
            for sample in samples:
                self._samples.append(sample)
                if "span_id" in sample.labels:
                    self._by_span.setdefault(sample.labels["span_id"], deque()).append(sample)
            oldest = self._clock() * 1e9 - self._window_ns
            while self._samples and (len(self._samples) > self._max_samples or self._samples[0].end_ns < oldest):
                self._forget(self._samples.popleft())
            for service, until in (received_until or {}).items():
                self._received_until[service] = max(until, self._received_until.get(service, 0))

    def _forget(self, sample):
        """Drops the oldest sample from its span's too: both keep the order of arrival."""
        if "span_id" in sample.labels:
            of_span = self._by_span[sample.labels["span_id"]]
            of_span.popleft()
            if not of_span:
                del self._by_span[sample.labels["span_id"]]

    def received_until(self, service):
        """Up to when (Unix ns) `service`'s samples have arrived: a span that ended before has all of its own."""
        with self._lock:
            return self._received_until.get(service, 0)

    def select(self, labels, span_ids=None, start_ns=0, end_ns=None):
        """The samples whose labels (the service's `service_name` among them) match `labels`,
        of the spans `span_ids` (any, when None), in profiles ending within [start_ns, end_ns]."""
        with self._lock:
            if span_ids is None:
                samples = list(self._samples)
            else:
                samples = [sample for span_id in span_ids for sample in self._by_span.get(span_id, ())]
        return [sample for sample in samples
                if all((sample.service if name == "service_name" else sample.labels.get(name)) == value
                       for name, value in labels.items())
                and start_ns <= sample.end_ns and (end_ns is None or sample.end_ns <= end_ns)]


def top_functions(samples, count=3):
    """[(function, nanoseconds)] where the samples were running (each stack's last function), most first."""
    spent = {}
    for sample in samples:
        if sample.stack:
            spent[sample.stack[-1]] = spent.get(sample.stack[-1], 0) + sample.nanoseconds
    return sorted(spent.items(), key=lambda item: -item[1])[:count]


def flamegraph(samples):
    """Pyroscope's FlameGraph: `names` ("total" first) and one level per depth, each node four
    numbers (its offset from the end of its left neighbour, total, self, index in `names`)."""
    root = {"total": 0, "self": 0, "children": {}}
    for sample in samples:
        root["total"] += sample.nanoseconds
        node = root
        for function in sample.stack:
            node = node["children"].setdefault(function, {"total": 0, "self": 0, "children": {}})
            node["total"] += sample.nanoseconds
        node["self"] += sample.nanoseconds
    names, index, levels = ["total"], {"total": 0}, []
    row = [(0, "total", root)]  # (x, name, node) of one depth, left to right
    while row:
        values, end, below = [], 0, []
        for x, name, node in row:
            if name not in index:
                index[name] = len(names)
                names.append(name)
            values += [x - end, node["total"], node["self"], index[name]]
            end = x + node["total"]
            child_x = x
            for child_name, child in sorted(node["children"].items(), key=lambda item: -item[1]["total"]):
                below.append((child_x, child_name, child))
                child_x += child["total"]
        levels.append({"values": [str(value) for value in values]})
        row = below
    max_self = max((int(level["values"][i]) for level in levels for i in range(2, len(level["values"]), 4)), default=0)
    return {"names": names, "levels": levels, "total": str(root["total"]), "maxSelf": str(max_self)}


def parse_label_selector(text):
    """`{service_name="dice-roller", span_name="GET /roll"}` as {name: value}; only `=` matchers."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise ValueError(text)
    inner = inner[1:-1].strip()
    labels = {}
    for part in filter(None, _split_matchers(inner)):
        match = MATCHER.fullmatch(part)
        if not match:
            raise ValueError(text)
        labels[match[1]] = match[2].replace('\\"', '"').replace("\\\\", "\\")
    return labels


def _split_matchers(text):
    parts, current, quoted, escaped = [], "", False, False
    for character in text:
        if character == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += character
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == '"':
            quoted = not quoted
    return [*parts, current]


class PyroscopeApi(LoopbackServer):
    """The store's samples behind Pyroscope's push and query paths, on `port`; on a free port
    when that is taken (0: a free one at once)."""

    def __init__(self, store, port=PYROSCOPE_PORT):
        api = self

        class Handler(LoopbackHandler):
            def get(self, url):
                if url.path == "/ready":
                    return 200, "text/plain", b"ready\n"
                if url.path == "/":
                    return 200, "text/html; charset=utf-8", INDEX.encode()
                raise Refused(404, "404 page not found: see / for what is served here")

            def post(self, url, body):
                if url.path == PUSH_PATH:
                    api.receive(body)
                    return 200, "application/proto", b""
                if url.path in QUERY_PATHS:
                    status, answer = api.query(body)
                    return status, "application/json", json.dumps(answer).encode()
                raise Refused(404, "404 page not found: see / for what is served here")

        self.store = store
        super().__init__(Handler, port, fallback=True)

    def receive(self, body):
        try:
            samples = decode_push(body)
        except (ValueError, IndexError, UnicodeDecodeError, OSError, EOFError):
            raise Refused(400, "not a Pyroscope PushRequest of pprof profiles") from None
        until = {}
        for sample in samples:
            until[sample.service] = max(until.get(sample.service, 0), sample.end_ns)
        self.store.add(samples, until)

    def query(self, body):
        """(status, answer) of a query in Connect's JSON: 400 with Connect's error shape when bad."""
        try:
            request = json.loads(body or b"{}")
            if request.get("profileTypeID", CPU_PROFILE_TYPE) != CPU_PROFILE_TYPE:
                return 400, {"code": "invalid_argument", "message": f"only {CPU_PROFILE_TYPE} is kept here"}
            labels = parse_label_selector(request.get("labelSelector", "{}"))
            span_ids = request.get("spanSelector")
            start_ns = int(request.get("start", 0)) * 1_000_000
            end_ns = int(request["end"]) * 1_000_000 if "end" in request else None
        except (ValueError, TypeError, AttributeError):
            return 400, {"code": "invalid_argument", "message": "expected {profileTypeID, labelSelector, start, end}"}
        samples = self.store.select(labels, span_ids=set(span_ids) if span_ids else None,
                                    start_ns=start_ns, end_ns=end_ns)
        return 200, {"flamegraph": flamegraph(samples)}


INDEX = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>make run's Pyroscope</title></head><body><main>
<h1>make run's Pyroscope</h1>
<p>The CPU profiles the services' Pyroscope agents pushed to <code>make run</code>, for the last
{WINDOW_SECONDS // 60} minutes, answered as Grafana Pyroscope answers, so that the labs and your <code>curl</code>
read them as they would under compose. Each trace make run prints (and its page) shows every SERVER span's CPU.</p>
<ul>
<li><code>POST {PUSH_PATH}</code>: what the agents send</li>
<li><code>POST {STACKTRACES_PATH}</code>: a service's CPU flame graph, for
<code>{{"profileTypeID": "{CPU_PROFILE_TYPE}",
"labelSelector": "{{service_name=\\"dice-roller\\"}}", "start": ms, "end": ms}}</code></li>
<li><code>POST {SPAN_PROFILE_PATH}</code>: the same for some spans only, with
<code>"spanSelector": ["span id"]</code></li>
</ul></main></body></html>
"""
