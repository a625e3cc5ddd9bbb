"""Tracing set-up shared by the three services. Call once per worker process.

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

from ops import VERSION
from ops.logs import configure_logging

logger = logging.getLogger(__name__)

# Scrapes, probes and the page's static files would drown the interesting traces.
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$,/static/"


def current_trace_id():
    """The active span's trace id as 32 hex digits, or None when no span is active."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def tracing_enabled():
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def setup_telemetry(service_name, framework_instrumentor, **framework_options):
    """JSON logs, a tracer provider exporting OTLP/HTTP, and instrumentation of
    outgoing `requests` plus the service's framework (a Django or Falcon instrumentor,
    instrumented with `framework_options`, such as hooks).
    """
    configure_logging(service_name)
    if not tracing_enabled():
        logger.info("Tracing is off (OTEL_SDK_DISABLED=true)")
        return
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(create_tracer_provider(service_name))
    use_stable_http_conventions()
    # Falcon's instrumentation reads its exclusions only from the environment.
    os.environ.setdefault("OTEL_PYTHON_FALCON_EXCLUDED_URLS", UNTRACED_URLS)
    for instrumentor, options in ((RequestsInstrumentor(), {}), (framework_instrumentor, framework_options)):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(excluded_urls=UNTRACED_URLS, **options)


def use_stable_http_conventions():
    """`http.request.method`, `http.response.status_code`, `url.path`... instead of the
    deprecated names, unless the user chose otherwise. Read once, by the first instrumentor."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


def create_tracer_provider(service_name):
    """A provider exporting as the OTEL_* environment says (OTLP/HTTP by default)."""
    defaults = Resource({"service.version": VERSION, "deployment.environment.name": "local"})
    # OTEL_RESOURCE_ATTRIBUTES overrides the defaults; OTEL_SERVICE_NAME the name.
    resource = defaults.merge(
        Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    )
    provider = TracerProvider(resource=resource)
    exporter = _create_exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _create_exporter():
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if kind == "none":
        logger.info("Traces are not exported (OTEL_TRACES_EXPORTER=none)")
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318").rstrip("/")
        + "/v1/traces"
    )
    logger.info("Exporting traces to %s (OTLP/HTTP)", endpoint, extra={"endpoint": endpoint})
    return ReportOnceExporter(OTLPSpanExporter(endpoint=endpoint), endpoint)


class ReportOnceExporter(SpanExporter):
    """Says once that the collector cannot be reached, and once when it is back,
    instead of the exporter's warning per batch and retry."""

    def __init__(self, exporter, endpoint):
        self._exporter = exporter
        self._endpoint = endpoint
        self._failing = False
        logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)

    def export(self, spans):
        result = self._exporter.export(spans)
        failing = result is not SpanExportResult.SUCCESS
        if failing and not self._failing:
            logger.warning(
                "No OTLP collector answers at %s: traces are dropped until one does",
                self._endpoint,
                extra={"endpoint": self._endpoint},
            )
        elif self._failing and not failing:
            logger.info("Traces reach %s again", self._endpoint, extra={"endpoint": self._endpoint})
        self._failing = failing
        return result

    def shutdown(self):
        self._exporter.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self._exporter.force_flush(timeout_millis)
