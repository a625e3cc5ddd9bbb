"""The benchmark's "many dice at once" scenario: ten single rolls one after another against one
batch of ten (GET /roll-async), through the frontend with the default delay, alternating so that
both see the same machine. Reports the speed-up, and each batch's latency against its slowest
`roll die` span, read from the spans the services exported."""

import http.client
import json
import time

from harness.stack import Stack
from ops.percentiles import percentiles_ms

DICE = 10
ROLL_SPAN = "roll die"


def run_batch_comparison(receiver, log_dir, repeats, max_delay_seconds=1.0):
    """`repeats` rounds of: 10 single rolls in a row, then one batch of 10."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {"ROLL_MAX_DELAY_SECONDS": max_delay_seconds, "OTEL_TRACES_EXPORTER": "otlp",
           "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    stack = Stack(log_dir, **env).start()
    sequences, batches = [], []
    try:
        connection = http.client.HTTPConnection("127.0.0.1", stack.frontend.port, timeout=30)
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(DICE):
                _get(connection, "/roll?die=fair")
            sequences.append(time.perf_counter() - started)
            started = time.perf_counter()
            body = _get(connection, f"/roll-async?die=fair&times={DICE}")
            batches.append((time.perf_counter() - started, body["trace_id"]))
        connection.close()
    finally:
        stack.stop()  # SIGTERM: each service exports its last spans before it exits
    traces = receiver.wait_for(lambda t: all(len(_rolls(t.get(i, []))) == DICE for _, i in batches), timeout=10)

    # Each batch against its own slowest roll: what the concurrency leaves on top of it.
    ratios = [seconds / max(span.seconds for span in _rolls(traces[trace_id])) for seconds, trace_id in batches]
    sequence_mean, batch_mean = sum(sequences) / repeats, sum(seconds for seconds, _ in batches) / repeats
    return {
        "title": f"8. {DICE} single rolls in a row vs one batch of {DICE}",
        "repeats": repeats,
        "max_delay_seconds": max_delay_seconds,
        "sequence_ms": _percentiles(sequences),
        "batch_ms": _percentiles([seconds for seconds, _ in batches]),
        "speed_up": round(sequence_mean / batch_mean, 2),
        "batch_over_slowest_roll": round(sum(ratios) / len(ratios), 3),
        "batch_over_slowest_roll_max": round(max(ratios), 3),
    }


def _get(connection, path):
    connection.request("GET", path)
    response = connection.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body}")
    return body


def _rolls(spans):
    return [span for span in spans if span.name == ROLL_SPAN]


def _percentiles(seconds):
    return percentiles_ms(seconds, (50, 99)) | {"mean": round(sum(seconds) / len(seconds) * 1000, 1)}
