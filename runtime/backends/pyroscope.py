"""A small Pyroscope for `make run`: receives the services' profiles on the agent's own push API
and serves the part of Pyroscope's query API that the labs and a learner's curl use, in
Pyroscope's shapes (Connect, JSON; backend_apis/pyroscope.py), on loopback:

    POST /push.v1.PusherService/Push                          what the agents send (protobuf)
    POST /querier.v1.QuerierService/SelectMergeStacktraces    {profileTypeID, labelSelector, start, end}
    POST /querier.v1.QuerierService/SelectMergeSpanProfile    ... and spanSelector: [span ids]
    GET  /ready

Both queries answer {"flamegraph": {names, levels, total, maxSelf}}. Only CPU is kept, for
the last WINDOW_SECONDS within MAX_BYTES (profiles.py): a recent window, as a learner reads it;
pprof.py decodes the pushes."""

import json
import re

from backend_apis.pyroscope import CPU_PROFILE_TYPE, PUSH_PATH, PYROSCOPE_PORT, SPAN_PROFILE_PATH, STACKTRACES_PATH
from runtime.backends.http import LoopbackHandler, LoopbackServer, Refused
from runtime.backends.pprof import decode_push
from runtime.backends.profiles import WINDOW_SECONDS, flamegraph

QUERY_PATHS = (STACKTRACES_PATH, SPAN_PROFILE_PATH)
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')


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
            profiles = decode_push(body)
        except (ValueError, IndexError, UnicodeDecodeError, OSError, EOFError):
            raise Refused(400, "not a Pyroscope PushRequest of pprof profiles") from None
        self.store.add(profiles)

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
