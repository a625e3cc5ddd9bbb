"""JSON logs for every line a service process writes, with the active trace's ids.

One handler on the root logger; Django's and gunicorn's loggers propagate to it.
"""

import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from ops import settings
from ops.services import otel_service_name


class JsonLineFormatter(JsonFormatter):
    """timestamp, level, logger, message first; event fields (`extra=`) follow."""

    def __init__(self):
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        )

    def add_fields(self, log_record, record, message_dict):
        super().add_fields(log_record, record, message_dict)
        # Django's own loggers pass the request (django.request) or runserver's socket
        # (django.server) as `request`: an object, not a field; the access line and the span say
        # what the request was. runserver's `server_time` is the timestamp again, in another form.
        log_record.pop("request", None)
        log_record.pop("server_time", None)

    def formatTime(self, record, datefmt=None):
        # RFC 3339, UTC, milliseconds: 2026-11-27T03:45:00.123Z
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ServiceContextFilter(logging.Filter):
    """Adds `service`, and `trace_id`/`span_id` whenever a span is active or the record is
    about a request that had one."""

    def __init__(self, service_name):
        super().__init__()
        self.service_name = service_name

    def filter(self, record):
        record.service = self.service_name
        span_context = trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            # Django logs a 4xx or 5xx answer (django.request) after its middleware, the tracing
            # one included, has returned: the request keeps its span's context for that line
            # (frontend_site.middleware.SpanContextMiddleware).
            span_context = getattr(getattr(record, "request", None), "span_context", span_context)
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        return True


def configure_logging(service_name):
    """Send every record, from any logger, to stderr as one JSON object per line, with
    `service` from OTEL_SERVICE_NAME when set (as the traces' service.name), else `service_name`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(ServiceContextFilter(otel_service_name(service_name)))

    root = logging.getLogger()
    for old_handler in root.handlers[:]:
        # Replace our own handler on a second call; leave others (pytest's) alone.
        if isinstance(old_handler.formatter, JsonLineFormatter):
            root.removeHandler(old_handler)
    root.addHandler(handler)
    # Our lines carry no source file and line, thread or process name: spare every record
    # looking them up (the stdlib logging HOWTO, "Optimization"). A quarter of a line's cost;
    # a format that wants funcName or lineno, or a call with stack_info, needs these back.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # A bad LOG_LEVEL is told by the start-up check of the settings, in this format.
    root.setLevel(settings.read_or_default("LOG_LEVEL"))
    logging.captureWarnings(True)
