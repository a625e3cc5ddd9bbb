"""The die service's SERVER span for every row of the contract's API table."""

import pytest
from falcon import testing  # before the instrumentor swaps falcon.App
from opentelemetry.instrumentation.falcon import FalconInstrumentor

from diespec.app import build_app
from diespec.specs import parse_specifications
from ops.faults import FaultInjector
from tests.spans import assert_server_span, exception_events, only_span

SPECIFICATIONS = {"fair": {"faces": [1, 2, 3, 4, 5, 6], "error_rate": 0}}
FAULTS = FaultInjector("die-service", enabled=True)


@pytest.fixture
def client(span_exporter):
    instrumentor = FalconInstrumentor()
    instrumentor.instrument()
    yield testing.TestClient(build_app(parse_specifications(SPECIFICATIONS), FAULTS))
    instrumentor.uninstrument()


@pytest.mark.parametrize(
    "method, path, query, status, name, route",
    [
        ("GET", "/", None, 200, "GET /", "/"),
        ("GET", "/dice", None, 200, "GET /dice", "/dice"),
        ("GET", "/dice", "identifier=fair", 200, "GET /dice", "/dice"),
        ("GET", "/dice", "identifier=loaded", 404, "GET /dice", "/dice"),
        ("GET", "/dice", "identifier=bad%24%24", 400, "GET /dice", "/dice"),
        ("GET", "/dice", "identifier=", 400, "GET /dice", "/dice"),
        ("GET", "/nope", None, 404, "GET", None),
        ("POST", "/dice", None, 405, "POST /dice", "/dice"),
    ],
)
def test_server_span_records_the_status_answered(client, span_exporter, method, path, query, status, name, route):
    response = client.simulate_request(method, path, query_string=query)
    assert response.status_code == status
    assert_server_span(only_span(span_exporter), name, status, route)


def test_specification_span_says_which_die_and_whether_it_was_found(client, span_exporter):
    client.simulate_get("/dice", params={"identifier": "fair"})
    found = only_span(span_exporter).attributes
    span_exporter.clear()
    client.simulate_get("/dice", params={"identifier": "loaded"})
    missing = only_span(span_exporter).attributes
    assert (found["die.identifier"], found["die.found"]) == ("fair", True)
    assert (missing["die.identifier"], missing["die.found"]) == ("loaded", False)


class BrokenSpecifications(dict):
    def get(self, identifier, default=None):
        raise RuntimeError("the disk went away")


def test_an_unexpected_exception_is_a_500_json_answer_with_an_exception_event(span_exporter):
    instrumentor = FalconInstrumentor()
    instrumentor.instrument()
    try:
        client = testing.TestClient(build_app(BrokenSpecifications(parse_specifications(SPECIFICATIONS)), FAULTS))
        response = client.simulate_get("/dice", params={"identifier": "fair"})
    finally:
        instrumentor.uninstrument()
    assert response.status_code == 500 and response.json["error"] == "internal_error"
    span = only_span(span_exporter)
    assert_server_span(span, "GET /dice", 500, "/dice")
    [event] = exception_events(span)
    assert event.attributes["exception.type"] == "RuntimeError"
