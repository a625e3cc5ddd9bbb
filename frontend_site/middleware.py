"""http_requests_total and http_request_duration_seconds, as the Falcon services count them."""

import time

from ops.metrics import record_http_request


class HttpMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = "/" + match.route if match else None
        record_http_request(request.method, route, response.status_code, time.perf_counter() - started)
        return response
