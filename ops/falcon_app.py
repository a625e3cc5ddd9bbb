"""What the die service and the dice roller share as Falcon apps: JSON error bodies,
HTTP metrics, and the `/healthz`, `/readyz`, `/metrics` and `/openapi.json` routes."""

import logging
import time

import falcon
from opentelemetry import trace

from ops import errors
from ops.errors import identifier_error, times_error
from ops.metrics import record_http_request, render_metrics, request_finished, request_started

logger = logging.getLogger(__name__)


class ApiError(falcon.HTTPError):
    """An error answered as {"error": code, "message": message}, from the table in ops.errors.

    A falcon.HTTPError, so that the OpenTelemetry instrumentation records the status we
    answer: it takes any other exception for a 500, whatever a handler then answers.
    """

    def __init__(self, kind, headers=None, details=None, **fields):
        """`fields` fill in the message; `details` are added to the body as they are."""
        body = kind.body(**fields)
        super().__init__(kind.status, title=body["error"], description=body["message"], headers=headers)
        self.details = details or {}

    def to_dict(self, obj_type=dict):
        return obj_type(error=self.title, message=self.description, **self.details)


def create_service_app(readiness_check, openapi_path, fault_injector):
    """A Falcon app with the shared routes; `readiness_check()` returns (ready, detail),
    `openapi_path` is the service's OpenAPI document, kept beside its code, and
    `fault_injector` (ops.faults) applies the faults the requests' baggage names."""
    # falcon.App, not `from falcon import App`: the OTel instrumentor swaps the class.
    app = falcon.App(middleware=[HttpMetricsMiddleware(), FaultMiddleware(fault_injector)])
    app.add_error_handler(Exception, _answer_unexpected_error)
    app.add_error_handler(falcon.HTTPError, _answer_http_error)
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Readiness(readiness_check))
    app.add_route("/metrics", Metrics())
    app.add_route("/openapi.json", OpenApiDocument(openapi_path))
    return app


def get_identifier_param(req, name):
    """The one identifier in query parameter `name`, or a 400 that does not echo it."""
    values = req.get_param_as_list(name) or []
    error = identifier_error(values)
    if error:
        raise ApiError(error, parameter=name)
    return values[0]


def get_times_param(req):
    """How many dice the `times` query parameter asks for, or a 400 that does not echo it."""
    values = req.get_param_as_list("times") or []
    error = times_error(values)
    if error:
        raise ApiError(error, parameter="times")
    return int(values[0])


# Falcon's own errors (no route, wrong method), in the contract's words.
_FRAMEWORK_ERRORS = {
    falcon.HTTPRouteNotFound: errors.NOT_FOUND,
    falcon.HTTPNotFound: errors.NOT_FOUND,
    falcon.HTTPMethodNotAllowed: errors.METHOD_NOT_ALLOWED,
}


def _answer_http_error(req, resp, ex, params):
    """JSON whatever the client accepts (Falcon's default would send an empty body to some)."""
    if not isinstance(ex, ApiError):
        kind = _FRAMEWORK_ERRORS.get(type(ex)) or errors.ErrorKind(ex.status_code, _code_of(ex), ex.title)
        ex = ApiError(kind, headers=ex.headers)
    resp.status = ex.status
    resp.set_headers(ex.headers or {})
    resp.media = ex.to_dict()


def _code_of(ex):
    return ex.title.lower().replace(" ", "_")


def _answer_unexpected_error(req, resp, ex, params):
    # The instrumentation marks the span 500 ERROR but, the exception being handled here,
    # records no exception event: add it, so the trace says what went wrong.
    trace.get_current_span().record_exception(ex)
    logger.exception("Unhandled error", extra={"path": req.path})
    _answer_http_error(req, resp, ApiError(errors.INTERNAL_ERROR), params)


class HttpMetricsMiddleware:
    """http_requests_total and http_request_duration_seconds, labelled by route template,
    and http_requests_in_flight."""

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()
        req.context.in_flight = request_started(req.path)

    def process_response(self, req, resp, resource, req_succeeded):
        request_finished(req.context.in_flight)
        elapsed = time.perf_counter() - req.context.started
        record_http_request(req.method, req.uri_template, resp.status_code, elapsed)


class FaultMiddleware:
    """The request's fault for this service, applied before its resource runs. After routing,
    not before: the Falcon instrumentation records any answer without a route as a 404."""

    def __init__(self, injector):
        self._injector = injector

    def process_resource(self, req, resp, resource, params):
        fault = self._injector.apply()
        if fault:
            kind, fields = self._injector.error_answer(fault)
            raise ApiError(kind, **fields)


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Readiness:
    def __init__(self, check):
        self._check = check

    def on_get(self, req, resp):
        ready, detail = self._check()
        if ready:
            resp.media = {"status": "ready", **detail}
        else:
            raise ApiError(errors.NOT_READY, reason=detail["message"])


class Metrics:
    def on_get(self, req, resp):
        resp.data, resp.content_type = render_metrics(req.get_header("Accept"))


class OpenApiDocument:
    def __init__(self, path):
        with open(path, "rb") as document:
            self._document = document.read()

    def on_get(self, req, resp):
        resp.data, resp.content_type = self._document, falcon.MEDIA_JSON
