"""Reading the spans of one in-process request (see the `span_exporter` fixture)."""

from opentelemetry.trace import SpanKind, StatusCode


def only_span(exporter, kind=SpanKind.SERVER):
    spans = [span for span in exporter.get_finished_spans() if span.kind is kind]
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def assert_server_span(span, name, status_code, route):
    """Named `{method} {route}`, with the status answered; 4xx leave the status unset,
    5xx set ERROR with error.type, as the HTTP semantic conventions say."""
    assert span.name == name
    assert span.attributes["http.response.status_code"] == status_code
    assert span.attributes.get("http.route") == route
    assert span.attributes["http.request.method"] == name.split()[0]
    assert "http.status_code" not in span.attributes and "http.method" not in span.attributes
    if status_code >= 500:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == str(status_code)
    else:
        assert span.status.status_code is StatusCode.UNSET
        assert "error.type" not in span.attributes


def exception_events(span):
    return [event for event in span.events if event.name == "exception"]
