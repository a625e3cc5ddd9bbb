"""A small Tempo for `make run`: the last traces the trace view received, served on loopback
with the part of Tempo's HTTP API that the labs, the stack check and a learner's curl use:

    GET /api/traces/<trace id>   the trace, in Tempo's JSON (OTLP JSON, `batches`, ids in base64)
    GET /api/search              ?tags=key=value ...&minDuration=&maxDuration=&limit=&start=&end=
    GET /ready

so that one client reads traces under compose (Tempo on :3200) and without Docker alike."""

import base64
import json
import re
import shlex
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from ops.grafana_links import TRACE_PAGE_PATH
from runtime.loopback import LoopbackHttpServer, reply

# Tempo's own port, which the labs ask under compose too.
TEMPO_PORT = 3200
KEPT_TRACES = 1000
DEFAULT_LIMIT = 20  # Tempo's
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
TRACE_ID = re.compile(r"[0-9a-f]{32}")
NOT_KEPT = ("<!doctype html><title>No such trace</title><p>make run keeps no trace with that id: it keeps the "
            f"last {KEPT_TRACES:,}, and only those it received. Copy the trace id from the page or the terminal.</p>")
NANOSECONDS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


class TraceStore:
    """The last `size` traces, whole, by trace id (hex); the oldest go first."""

    def __init__(self, size=KEPT_TRACES):
        self._size = size
        self._traces = OrderedDict()
        self._lock = threading.Lock()

    def add(self, trace_id, spans):
        with self._lock:
            self._traces[trace_id] = [*self._traces.pop(trace_id, []), *spans]
            while len(self._traces) > self._size:
                self._traces.popitem(last=False)

    def get(self, trace_id):
        with self._lock:
            return list(self._traces.get(trace_id.lower(), []))

    def all(self):
        with self._lock:
            return [(trace_id, list(spans)) for trace_id, spans in self._traces.items()]


def parse_duration(text):
    """Go's durations, as Tempo takes them ("1.5s", "100ms", "1m30s"), in nanoseconds."""
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(text)
    return sum(float(number) * NANOSECONDS[unit] for number, unit in parts)


def trace_json(spans):
    """Tempo's /api/traces answer: one batch per service, its resource and its spans."""
    batches = {}
    for span in sorted(spans, key=lambda span: span.start_ns):
        batch = batches.setdefault(span.service, {
            "resource": {"attributes": _key_values(span.resource)},
            "scopeSpans": [{"scope": {"name": ""}, "spans": []}],
        })
        batch["scopeSpans"][0]["spans"].append(_span_json(span))
    return {"batches": list(batches.values())}


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


def search(traces, query):
    """Tempo's /api/search answer over [(trace id, spans)], newest first."""
    tags = dict(pair.split("=", 1) for pair in shlex.split(query.get("tags", "")) if "=" in pair)
    least = parse_duration(query["minDuration"]) if query.get("minDuration") else 0
    most = parse_duration(query["maxDuration"]) if query.get("maxDuration") else float("inf")
    start, end = time_range(query)
    limit = int(query.get("limit") or DEFAULT_LIMIT)
    found = []
    for trace_id, spans in reversed(traces):
        began, ended = min(s.start_ns for s in spans), max(s.end_ns for s in spans)
        if not (least <= ended - began <= most and began <= end and ended >= start):
            continue
        if tags and not any(_matches(span, tags) for span in spans):
            continue
        root = next((s for s in spans if not s.parent_span_id), min(spans, key=lambda s: s.start_ns))
        found.append({
            "traceID": trace_id, "rootServiceName": root.service, "rootTraceName": root.name,
            "startTimeUnixNano": str(began), "durationMs": round((ended - began) / 1e6),
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


def _id(hex_id):
    return base64.b64encode(bytes.fromhex(hex_id)).decode() if hex_id else ""


def _value(value):
    """OTLP JSON's AnyValue: int64 as a string, as protobuf's JSON mapping writes it."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    return {"stringValue": str(value)}


def _key_values(attributes):
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _span_json(span):
    found = {
        "traceId": _id(span.trace_id), "spanId": _id(span.span_id), "name": span.name,
        "kind": f"SPAN_KIND_{span.kind}", "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns), "attributes": _key_values(span.attributes),
        "status": {"code": f"STATUS_CODE_{span.status}"} if span.status != "UNSET" else {},
        "events": [{"name": name, "attributes": _key_values(attributes)} for name, attributes in span.events],
    }
    if span.parent_span_id:
        found["parentSpanId"] = _id(span.parent_span_id)
    return found


class TempoApi(LoopbackHttpServer):
    """The API above, over a TraceStore, on 127.0.0.1:`port`."""

    def __init__(self, store, port=TEMPO_PORT, page=None):
        """`page(trace_id)`: a trace's HTML page (or None when not kept), served at /trace/<id>."""

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                if page and url.path.startswith(TRACE_PAGE_PATH):
                    trace_id = url.path.removeprefix(TRACE_PAGE_PATH).lower()
                    found = page(trace_id) if TRACE_ID.fullmatch(trace_id) else None
                    if found is None:
                        return reply(self, 404, "text/html; charset=utf-8", NOT_KEPT.encode())
                    return reply(self, 200, "text/html; charset=utf-8", found.encode())
                if url.path.startswith("/api/traces/"):
                    spans = store.get(url.path.removeprefix("/api/traces/"))
                    if not spans:
                        return self._json(404, {"error": "trace not found"})
                    return self._json(200, trace_json(spans))
                if url.path == "/api/search":
                    try:
                        return self._json(200, search(store.all(), query))
                    except ValueError as error:
                        return self._json(400, {"error": f"bad search: {error}"})
                if url.path == "/ready":
                    return reply(self, 200, "text/plain", b"ready")
                return self._json(404, {"error": "not found"})

            def _json(self, status, body):
                reply(self, status, "application/json", json.dumps(body).encode())

            def log_message(self, *args):
                pass

        super().__init__(Handler, port=port)
