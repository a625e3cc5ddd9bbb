"""Prometheus metrics shared by the three services, and the `/metrics` exposition.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py does it for more than one worker)
prometheus_client writes every value to per-process files and a scrape adds them up.
"""

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from ops.telemetry import current_trace_id

# `*_created` series double the output and teach nothing here.
disable_created_metrics()

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled.", ["method", "route", "status"]
)
# The roll journey's latency objective counts the requests answered within this many seconds
# (docs/slo.md, stack/prometheus/rules/slo.yml): a bucket of its own, so that the objective reads
# an exact count rather than an estimate between the default 1 s and 2.5 s buckets.
SLO_LATENCY_THRESHOLD_SECONDS = 1.5
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds", "Time to handle an HTTP request.", ["method", "route"],
    buckets=sorted({*Histogram.DEFAULT_BUCKETS, SLO_LATENCY_THRESHOLD_SECONDS}),
)
# Saturation: how many requests are being handled now. `livesum` adds up the workers
# that are alive; a scrape leaves out the request that is reading it.
HTTP_REQUESTS_IN_FLIGHT = Gauge(
    "http_requests_in_flight", "HTTP requests being handled now (the scrape itself left out).",
    multiprocess_mode="livesum",
)
SCRAPE_PATH = "/metrics"
FAULTS_INJECTED = Counter(
    "faults_injected_total", "Faults applied from a request's baggage (ops/faults.py), by kind.", ["kind"]
)
for _kind in ("delay", "error"):  # both series exist from the start: a rate of 0, not "no data"
    FAULTS_INJECTED.labels(_kind)

# Anything else would let a client create a new series with every request.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
OTHER = "other"


def trace_exemplar():
    """The active trace as an exemplar, so a latency spike links to its trace.

    Exemplars are shown only in OpenMetrics and only in single-process mode.
    """
    trace_id = current_trace_id()
    return {"trace_id": trace_id} if trace_id else None


def request_started(path):
    """Counts a request in flight (not the scrape); returns whether it was counted."""
    if path == SCRAPE_PATH:
        return False
    HTTP_REQUESTS_IN_FLIGHT.inc()
    return True


def request_finished(counted):
    if counted:
        HTTP_REQUESTS_IN_FLIGHT.dec()


def record_http_request(method, route, status, seconds):
    method = method if method in KNOWN_METHODS else OTHER
    route = route or UNMATCHED_ROUTE
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST_DURATION.labels(method, route).observe(seconds, exemplar=trace_exemplar())


def render_metrics(accept_header):
    """(body, content type) for a scrape: OpenMetrics, with exemplars, when asked for."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    encode, content_type = choose_encoder(accept_header)
    return encode(registry), content_type
