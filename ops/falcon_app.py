"""What the die service and the dice roller share as Falcon apps: JSON error bodies,
HTTP metrics, and the `/healthz`, `/readyz`, `/metrics` and `/openapi.json` routes."""

import logging
import time

import falcon

from ops.metrics import record_http_request, render_metrics
from ops.validation import identifier_error

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A failure the caller is told about as {"error": code, "message": message}."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def create_service_app(readiness_check, openapi_path):
    """A Falcon app with the shared routes; `readiness_check()` returns (ready, detail),
    `openapi_path` is the service's OpenAPI document, kept beside its code."""
    # falcon.App, not `from falcon import App`: the OTel instrumentor swaps the class.
    app = falcon.App(middleware=[HttpMetricsMiddleware()])
    app.add_error_handler(Exception, _handle_unexpected_error)
    app.add_error_handler(falcon.HTTPError, _handle_framework_error)
    app.add_error_handler(ApiError, _handle_api_error)
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Readiness(readiness_check))
    app.add_route("/metrics", Metrics())
    app.add_route("/openapi.json", OpenApiDocument(openapi_path))
    return app


def get_identifier_param(req, name):
    """The one identifier in query parameter `name`, or a 400 that does not echo it."""
    values = req.get_param_as_list(name) or []
    error = identifier_error(name, values)
    if error:
        raise ApiError(400, *error)
    return values[0]


def write_error(resp, status, code, message):
    resp.status = status
    resp.media = {"error": code, "message": message}


def _handle_api_error(req, resp, ex, params):
    write_error(resp, ex.status, ex.code, ex.message)


# Falcon's own errors (no route, wrong method), in the contract's shape.
_FRAMEWORK_ERRORS = {
    falcon.HTTPRouteNotFound: ("not_found", "There is nothing at this path."),
    falcon.HTTPNotFound: ("not_found", "There is nothing at this path."),
    falcon.HTTPMethodNotAllowed: ("method_not_allowed", "This path does not accept that method."),
}


def _handle_framework_error(req, resp, ex, params):
    code, message = _FRAMEWORK_ERRORS.get(type(ex), (None, None))
    code = code or ex.title.lower().replace(" ", "_")
    resp.set_headers(ex.headers or {})
    write_error(resp, ex.status, code, message or ex.description or ex.title)


def _handle_unexpected_error(req, resp, ex, params):
    logger.exception("Unhandled error", extra={"path": req.path})
    write_error(resp, falcon.HTTP_500, "internal_error", "Something went wrong on our side.")


class HttpMetricsMiddleware:
    """http_requests_total and http_request_duration_seconds, labelled by route template."""

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded):
        elapsed = time.perf_counter() - req.context.started
        record_http_request(req.method, req.uri_template, resp.status_code, elapsed)


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
            write_error(resp, falcon.HTTP_503, "not_ready", detail["message"])


class Metrics:
    def on_get(self, req, resp):
        resp.data, resp.content_type = render_metrics(req.get_header("Accept"))


class OpenApiDocument:
    def __init__(self, path):
        with open(path, "rb") as document:
            self._document = document.read()

    def on_get(self, req, resp):
        resp.data, resp.content_type = self._document, falcon.MEDIA_JSON
