"""Profiles, the fourth signal: the Pyroscope agent samples the worker's CPU, each sample tagged
with the SERVER span running on its thread (span profiles), and pushes them to
PYROSCOPE_SERVER_ADDRESS. Called from ops/telemetry.py once per worker process, after the fork:
the agent's threads would not survive a fork, so the master never starts one."""

import logging
import math
import socket
import threading
import types
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import SpanProcessor

from ops import settings

logger = logging.getLogger(__name__)

# Samples a second: CPU is counted in 20 ms steps, and a span that computes for less may have
# no sample at all. Half the agent's default (100), whose cost measured 8.6 % of a roll's CPU
# against 2.5 % for this one (docs/performance.md, "What profiles cost").
SAMPLE_RATE_HZ = 50
SAMPLE_INTERVAL_MS = 1000 // SAMPLE_RATE_HZ


def sampled_range_ms(cpu_ms, sigmas=2):
    """(least, most) a profile reads of `cpu_ms` spent on a thread, `sigmas` standard deviations
    apart (2: 19 times in 20). The agent (py-spy) samples at random moments, SAMPLE_RATE_HZ a
    second on average, to avoid keeping step with the code it samples: the samples of N ms are a
    Poisson count, of mean N / SAMPLE_INTERVAL_MS, each worth SAMPLE_INTERVAL_MS."""
    spread = sigmas * math.sqrt(SAMPLE_INTERVAL_MS * cpu_ms)
    return max(cpu_ms - spread, 0), cpu_ms + spread


def start_profiling(service_name):
    """Starts the agent when PYROSCOPE_SERVER_ADDRESS is set; returns the span processor that
    tags its samples (for the tracer provider), or None when profiling is off or cannot run
    here. Never raises: a service without profiles still serves."""
    address = settings.read("PYROSCOPE_SERVER_ADDRESS")  # checked at start: a URL, or unset
    if address is None:
        return None
    try:
        import pyroscope
        from pyroscope.otel import PyroscopeSpanProcessor

        pyroscope.configure(
            application_name=service_name,  # the `service_name` label, as Grafana's links expect
            server_address=address,
            sample_rate=SAMPLE_RATE_HZ,
            upload_interval=settings.read("PYROSCOPE_UPLOAD_INTERVAL_SECONDS"),
            # Each sample labelled `pid`: with several workers, a profile says which worker's
            # CPU it is, and so which spans' samples have all arrived (the span's process.pid).
            report_pid=True,
        )
    except Exception as error:  # no wheel for this platform, or the agent cannot read its own process
        logger.warning("Profiling is off: the Pyroscope agent cannot run here", extra={"reason": str(error)})
        return None
    # The agent retries each upload on its own and says nothing; one line tells the learner why
    # no profile shows up, without ever holding up a request.
    threading.Thread(target=_warn_if_unreachable, args=(address,), name="pyroscope-check", daemon=True).start()
    return SpanProfiles(PyroscopeSpanProcessor())


def _warn_if_unreachable(address, timeout=2.0):
    url = urlsplit(address)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as error:
        logger.warning("Profiles cannot be sent: the Pyroscope server does not answer",
                       extra={"pyroscope_server_address": address, "reason": error.strerror or str(error)})


class SpanProfiles(SpanProcessor):
    """pyroscope-otel's processor (`tagger`), removing at a span's end the tags it added at its
    start. The agent removes a tag only by its exact value, and the frameworks rename a SERVER
    span once it is routed (`GET` becomes `GET /roll`): with the new name, the old `span_name`
    tag would stay on the thread and mislabel its later samples."""

    def __init__(self, tagger):
        self._tagger = tagger
        self._started_as = {}  # span id -> the name it was tagged with

    def on_start(self, span, parent_context=None):
        self._tagger.on_start(span, parent_context)
        self._started_as[span.context.span_id] = span.name

    def on_end(self, span):
        name = self._started_as.pop(span.context.span_id, span.name)
        self._tagger.on_end(types.SimpleNamespace(name=name, parent=span.parent, context=span.context))
