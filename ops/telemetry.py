"""Tracing (and profiling) set-up shared by the three services. Call once per worker process.

Each service calls `setup_telemetry(...)` from its WSGI entry point, so every gunicorn
worker builds its own tracer provider after the fork (never in the master).
"""

import logging
import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from ops import VERSION, settings
from ops.logs import configure_logging
from ops.profiling import start_profiling
from ops.services import otel_service_name

logger = logging.getLogger(__name__)

# Scrapes, probes and the page's static files would drown the interesting traces.
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$,/static/"


def current_trace_id():
    """The active span's trace id as 32 hex digits, or None when no span is active."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def tracing_enabled(environ=os.environ):
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def setup_telemetry(service_name, framework_instrumentor, *other_instrumentors, **framework_options):
    """JSON logs, a tracer provider exporting OTLP/HTTP, and instrumentation of
    outgoing `requests` plus the service's framework (a Django or Falcon instrumentor,
    instrumented with `framework_options`, such as hooks) and any `other_instrumentors`
    (the die service's database).
    """
    configure_logging(service_name)
    span_profiles = start_profiling(otel_service_name(service_name))
    if not tracing_enabled():
        logger.info("Tracing is off (OTEL_SDK_DISABLED=true)")
        return
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(create_tracer_provider(service_name, span_profiles))
    use_stable_semantic_conventions()
    # Falcon's instrumentation reads its exclusions only from the environment.
    os.environ.setdefault("OTEL_PYTHON_FALCON_EXCLUDED_URLS", UNTRACED_URLS)
    http_options = {"excluded_urls": UNTRACED_URLS}
    instrumentations = [
        (RequestsInstrumentor(), http_options),
        (framework_instrumentor, {**http_options, **framework_options}),
        *((instrumentor, {}) for instrumentor in other_instrumentors),
    ]
    for instrumentor, options in instrumentations:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**options)


# The stable semantic conventions of HTTP (`http.request.method`, `url.path`...) and of
# databases (`db.system.name`, `db.query.text`...), instead of the deprecated names.
STABLE_SEMANTIC_CONVENTIONS = "http,database"


def use_stable_semantic_conventions():
    """The stable conventions, unless the user chose otherwise. Read once, by the first instrumentor."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", STABLE_SEMANTIC_CONVENTIONS)


def create_tracer_provider(service_name, span_profiles=None):
    """A provider exporting as the OTEL_* environment says (OTLP/HTTP by default); with
    `span_profiles` (ops/profiling.py), each SERVER span's CPU samples carry its id."""
    defaults = Resource({"service.version": VERSION, "deployment.environment.name": "local"})
    # OTEL_RESOURCE_ATTRIBUTES overrides the defaults; OTEL_SERVICE_NAME, when not empty, the name.
    # process.pid: the worker that served a span, as its CPU samples say (ops/profiling.py).
    resource = defaults.merge(Resource.create({"service.name": otel_service_name(service_name),
                                               "process.pid": os.getpid()}))
    provider = TracerProvider(resource=resource)
    if span_profiles is not None:  # before any span starts, so that none escapes it
        provider.add_span_processor(span_profiles)
    exporter = _create_exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _create_exporter():
    kind = settings.read("OTEL_TRACES_EXPORTER")  # checked at start: otlp, console or none
    if kind == "none":
        logger.info("Traces are not exported (OTEL_TRACES_EXPORTER=none)")
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    # The exporter works out its endpoint from the OTEL_EXPORTER_OTLP_* variables itself.
    return ReportOnceExporter(OTLPSpanExporter())


class ExportFailures(logging.Filter):
    """Holds back the OTLP exporter's own messages (one per failed batch, and per retry),
    keeping the first of a failed export: it says why (connection refused, HTTP 401...)."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def filter(self, record):
        self.messages.append(record.getMessage().rstrip("."))
        return False

    def first(self):
        messages, self.messages = self.messages, []
        return messages[0] if messages else "no reason given"


class ReportOnceExporter(SpanExporter):
    """Says once that traces cannot be exported, with the exporter's reason, and once when
    they can again, instead of a warning per batch and retry."""

    def __init__(self, exporter):
        self._exporter = exporter
        # The SDK resolved it from the environment; read only to say where traces go.
        self._endpoint = getattr(exporter, "_endpoint", "the OTLP endpoint")
        self._failures = ExportFailures()
        logging.getLogger(type(exporter).__module__).addFilter(self._failures)
        self._failing = False
        logger.info("Exporting traces to %s (OTLP/HTTP)", self._endpoint, extra={"endpoint": self._endpoint})

    def export(self, spans):
        result = self._exporter.export(spans)
        failing = result is not SpanExportResult.SUCCESS
        reason = self._failures.first()
        if failing and not self._failing:
            logger.warning(
                "Traces cannot be exported to %s: %s. They are dropped until it answers.",
                self._endpoint, reason, extra={"endpoint": self._endpoint, "reason": reason},
            )
        elif self._failing and not failing:
            logger.info("Traces reach %s again", self._endpoint, extra={"endpoint": self._endpoint})
        self._failing = failing
        return result

    def shutdown(self):
        self._exporter.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self._exporter.force_flush(timeout_millis)
