"""A request's route template, written as the Falcon services write theirs: `/roll`, `/`."""


def route_template(request):
    """The template of the path() that served `request`, or None when none matched."""
    match = request.resolver_match
    return "/" + match.route if match else None


def name_span_by_route(span, request, response):
    """Response hook of the Django instrumentation. Django's routes have no leading slash
    and the page's is empty, so its spans would be `GET roll` and `GET`; one template on
    all three services lets one query (`GET /roll`) find every hop."""
    route = route_template(request)
    if route and span.is_recording():
        span.update_name(f"{request.method} {route}")
        span.set_attribute("http.route", route)
