"""A small Tempo for `make run`: the traces the trace view completed, kept for KEEP_SECONDS
within MAX_BYTES, served on loopback with the part of Tempo's HTTP API that the labs, the stack
check and a learner's curl use:

    GET /api/traces/<trace id>   the trace, in Tempo's JSON (backend_apis/tempo.py)
    GET /api/search              ?tags=key=value ...&q=<TraceQL>&minDuration=&maxDuration=&limit=&start=&end=
    GET /ready
    GET /trace/<trace id>        the trace as a page (runtime/views/page.py), for a browser
    GET /search                  a search's traces as a page (runtime/views/search.py), for a browser

`q` takes the part of TraceQL in runtime/backends/traceql.py.

so that one client reads traces under compose (Tempo on :3200) and without Docker alike."""

import json
import shlex
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qs

from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from backend_apis.spans import resource_spans_of, spans_of_resource_spans
from backend_apis.tempo import SEARCH_PATH, TEMPO_PORT, TRACES_PATH, trace_json
from ops.grafana_links import SEARCH_PAGE_PATH, TRACE_PAGE_PATH
from runtime.backends import traceql
from runtime.backends.http import LoopbackHandler, LoopbackServer, Refused
from runtime.backends.traceql import parse_duration

# Traces are kept for the last quarter of an hour, as a learner looks back, and never past
# MAX_BYTES of their protobuf (make run's memory for them is about 1.4 times that, measured:
# docs/performance.md, "make run over half an hour").
KEEP_SECONDS = 15 * 60
MAX_BYTES = 128 * 2**20
DEFAULT_LIMIT = 20  # Tempo's


@dataclass
class KeptTrace:
    """One trace as the store keeps it: its spans as the protocol's bytes, and what a search
    reads without decoding them."""

    chunks: list  # serialized TracesData, one per time spans of it arrived
    size: int
    kept_at: float  # clock() when it (or a late span of it) was kept
    began_ns: int
    ended_ns: int
    root_service: str
    root_name: str


class TraceStore:
    """The traces of the last `keep_seconds`, at most `max_bytes` of them, by trace id (hex);
    the oldest go first."""

    def __init__(self, keep_seconds=KEEP_SECONDS, max_bytes=MAX_BYTES, clock=time.monotonic):
        self._keep_seconds = keep_seconds
        self._max_bytes = max_bytes
        self._clock = clock
        self._traces = OrderedDict()  # oldest first
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, trace_id, spans):
        chunk = TracesData(resource_spans=resource_spans_of(spans)).SerializeToString()
        root = next((span for span in spans if not span.parent_span_id), min(spans, key=lambda span: span.start_ns))
        with self._lock:
            kept = self._traces.pop(trace_id, None)
            if kept is None:
                kept = KeptTrace([], 0, 0, root.start_ns, root.end_ns, root.service, root.name)
            elif not root.parent_span_id:  # a late root (a caller's) names the trace
                kept.root_service, kept.root_name = root.service, root.name
            kept.chunks.append(chunk)
            kept.size += len(chunk)
            kept.kept_at = self._clock()
            kept.began_ns = min(kept.began_ns, *(span.start_ns for span in spans))
            kept.ended_ns = max(kept.ended_ns, *(span.end_ns for span in spans))
            self._traces[trace_id] = kept
            self._bytes += len(chunk)
            oldest_kept = self._clock() - self._keep_seconds
            while self._traces and (self._bytes > self._max_bytes
                                    or next(iter(self._traces.values())).kept_at < oldest_kept):
                self._bytes -= self._traces.popitem(last=False)[1].size

    def resource_spans(self, trace_id):
        """The ResourceSpans messages of a kept trace ([] when not kept)."""
        with self._lock:
            kept = self._traces.get(trace_id.lower())
            chunks = list(kept.chunks) if kept else []
        return [batch for chunk in chunks for batch in TracesData.FromString(chunk).resource_spans]

    def get(self, trace_id):
        """The spans of a kept trace, decoded ([] when not kept)."""
        return spans_of_resource_spans(self.resource_spans(trace_id))

    def newest_first(self):
        """[(trace id, KeptTrace)], newest first."""
        with self._lock:
            return list(reversed(self._traces.items()))

    @property
    def size(self):
        """The bytes kept (the traces' protobuf)."""
        return self._bytes

    def __len__(self):
        return len(self._traces)



def time_range(query, now=None):
    """A search's [start, end] in Unix ns, as Tempo 3 takes `start` and `end` (Unix seconds):
    both or neither, the end cut at now, whole seconds, the start before the end; so that a
    client that asks make run as Tempo 3 would not take it learns it here too (ValueError)."""
    if not query.get("start") and not query.get("end"):
        return 0, float("inf")
    if not (query.get("start") and query.get("end")):
        raise ValueError("only one of start and end provided: must provide both or neither")
    start = int(float(query["start"]))
    end = min(int(float(query["end"])), int(time.time() if now is None else now))
    if end <= start:
        raise ValueError(f"http parameter start must be before end. received start={start} end={end}")
    return start * 10**9, end * 10**9


def search(store, query):
    """Tempo's /api/search answer over the store, newest first."""
    tags = dict(pair.split("=", 1) for pair in shlex.split(query.get("tags", "")) if "=" in pair)
    least = parse_duration(query["minDuration"]) if query.get("minDuration") else 0
    most = parse_duration(query["maxDuration"]) if query.get("maxDuration") else float("inf")
    spansets = traceql.parse(query["q"]) if query.get("q", "").strip() else []
    start, end = time_range(query)
    limit = int(query.get("limit") or DEFAULT_LIMIT)
    # Newest first by when each trace began, as Tempo orders them (the store keeps them as they
    # completed: a slow trace completes after a quick one that began later).
    traces = sorted(store.newest_first(), key=lambda item: item[1].began_ns, reverse=True)
    found = []
    for trace_id, kept in traces:
        if not (least <= kept.ended_ns - kept.began_ns <= most and kept.began_ns <= end and kept.ended_ns >= start):
            continue
        spans = store.get(trace_id) if tags or spansets else []
        if tags and not any(_matches(span, tags) for span in spans):
            continue
        if spansets and not traceql.matches(spansets, spans):
            continue
        found.append({
            "traceID": trace_id, "rootServiceName": kept.root_service, "rootTraceName": kept.root_name,
            "startTimeUnixNano": str(kept.began_ns), "durationMs": round((kept.ended_ns - kept.began_ns) / 1e6),
        })
        if len(found) == limit:
            break
    return {"traces": found, "metrics": {"inspectedTraces": len(traces)}}


def _matches(span, tags):
    """Tempo's tag search: every tag on one span, from its attributes, its resource's, or `name`."""
    values = {**{key: str(value) for key, value in span.resource.items()},
              **{key: _text(value) for key, value in span.attributes.items()}, "name": span.name}
    return all(values.get(key) == value for key, value in tags.items())


def _text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


class TempoApi(LoopbackServer):
    """The API above, over a TraceStore, on 127.0.0.1:`port` (a free port when that is taken;
    0: a free one at once). `page(trace_id)` answers a trace's page: (status, HTML), at /trace/<id>;
    `search_page(query, found, problem)` a search's, at /search."""

    def __init__(self, store, port=TEMPO_PORT, page=None, search_page=None):
        class Handler(LoopbackHandler):
            def get(self, url):
                query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                if page and url.path.startswith(TRACE_PAGE_PATH):
                    status, html = page(url.path.removeprefix(TRACE_PAGE_PATH).lower())
                    return status, "text/html; charset=utf-8", html.encode()
                if url.path.startswith(TRACES_PATH):
                    resource_spans = store.resource_spans(url.path.removeprefix(TRACES_PATH))
                    if not resource_spans:
                        return _json(404, {"error": "trace not found"})
                    return _json(200, trace_json(resource_spans))
                if url.path == SEARCH_PATH:
                    try:
                        return _json(200, search(store, query))
                    except ValueError as error:
                        return _json(400, {"error": f"bad search: {error}"})
                if search_page and url.path == SEARCH_PAGE_PATH:
                    try:
                        status, html = 200, search_page(query, search(store, query)["traces"], None)
                    except ValueError as error:
                        status, html = 400, search_page(query, [], str(error))
                    return status, "text/html; charset=utf-8", html.encode()
                if url.path == "/ready":
                    return 200, "text/plain", b"ready"
                if url.path == "/":
                    return 200, "text/html; charset=utf-8", INDEX.encode()
                raise Refused(404, "404 page not found: see / for what is served here")

        super().__init__(Handler, port=port, fallback=True)


def _json(status, body):
    return status, "application/json", json.dumps(body).encode()


INDEX = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>make run's Tempo</title></head><body><main>
<h1>make run's Tempo</h1>
<p>The traces <code>make run</code> received, for the last {KEEP_SECONDS // 60} minutes, served as Tempo serves
them, so that the labs and your <code>curl</code> read them as they would read Tempo under compose.</p>
<ul>
<li><code>{escape(TRACE_PAGE_PATH)}&lt;trace id&gt;</code>: a trace as a page (its waterfall, attributes,
events, CPU, log lines)</li>
<li><a href="{SEARCH_PAGE_PATH}?q=%7Bduration+%3E+1s%7D"><code>{SEARCH_PAGE_PATH}?q={{duration &gt; 1s}}</code></a>:
a search as a page (TraceQL's spansets of conditions joined by <code>&amp;&amp;</code>)</li>
<li><code>{TRACES_PATH}&lt;trace id&gt;</code>: a trace in Tempo's JSON</li>
<li><a href="{SEARCH_PATH}?minDuration=1s&amp;limit=20"><code>{SEARCH_PATH}?minDuration=1s&amp;limit=20</code></a>:
the newest traces over a second, as JSON (also <code>q</code>, <code>tags=key=value</code>,
<code>maxDuration</code>, <code>start</code> and <code>end</code>)</li>
</ul></main></body></html>
"""
