"""The frontend's own middleware: the request's span context kept for its last log line, the
shared HTTP metrics, the frontend's own faults, and the Content-Security-Policy."""

import time

from django.apps import apps
from django.conf import settings
from opentelemetry import trace

from frontend_site.answers import json_error
from frontend_site.routes import route_template
from ops.metrics import record_http_request, request_finished, request_started


class SpanContextMiddleware:
    """Keeps the request's span context on the request: Django writes its own line about a 4xx
    or 5xx answer (django.request) once the tracing middleware has ended the span, and the
    log's filter (ops/logs.py) takes the trace and span ids from here for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.span_context = trace.get_current_span().get_span_context()
        return self.get_response(request)


class HttpMetricsMiddleware:
    """http_requests_total, http_request_duration_seconds and http_requests_in_flight,
    as the Falcon services count them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        in_flight = request_started(request.path)
        try:
            response = self.get_response(request)
        finally:
            request_finished(in_flight)
        elapsed = time.perf_counter() - started
        record_http_request(request.method, route_template(request), response.status_code, elapsed)
        return response


class FaultInjectionMiddleware:
    """The request's fault for the frontend itself (fault.frontend=...), applied once Django has
    resolved the URL and before the view: like any other answer, a faulted one is then named
    and counted by its route (`GET /roll`), not as an unmatched request."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.faults = apps.get_app_config("frontend_site").faults

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        fault = self.faults.apply()
        if fault:
            kind, fields = self.faults.error_answer(fault)
            return json_error(kind, **fields)
        return None


class ContentSecurityPolicyMiddleware:
    """Django 5.2 has no CSP setting of its own (Django 6 adds one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
