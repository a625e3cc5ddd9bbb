"""The frontend's SERVER span (and its CLIENT span to the roller) for every row of the API table."""

import time

import pytest
from django.test import Client
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.trace import SpanKind, StatusCode

from frontend_site.routes import name_span_by_route
from harness.ports import free_port
from tests.spans import assert_server_span, only_span


@pytest.fixture
def client(span_exporter):
    """A test client built after the instrumentor added its middleware to the settings."""
    instrumentors = [RequestsInstrumentor(), DjangoInstrumentor()]
    instrumentors[0].instrument()
    instrumentors[1].instrument(response_hook=name_span_by_route)
    yield Client()
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


def roller_answers(roller, status, body):
    roller.routes["/roll"] = roller.routes["/roll-async"] = lambda q: (status, body)


@pytest.mark.parametrize(
    "path, roller_status, roller_body, status, name, route",
    [
        ("/", None, None, 200, "GET /", "/"),
        ("/roll?die=fair", 200, {"die": "fair", "roll": 3}, 200, "GET /roll", "/roll"),
        ("/roll?die=bad$$", None, None, 400, "GET /roll", "/roll"),
        ("/roll", None, None, 400, "GET /roll", "/roll"),
        ("/roll?die=loaded", 404, {"error": "unknown_die", "message": "-"}, 404, "GET /roll", "/roll"),
        ("/roll?die=risky", 500, {"error": "die_failed", "message": "-"}, 500, "GET /roll", "/roll"),
        ("/roll?die=fair", 503, {"error": "die_service_unavailable", "message": "-"}, 503, "GET /roll", "/roll"),
        ("/roll?die=fair", 502, {"error": "bad_gateway", "message": "-"}, 502, "GET /roll", "/roll"),
        ("/roll?die=fair", 200, b"<html>", 502, "GET /roll", "/roll"),
        ("/roll-async?die=fair&times=2", 200, {"die": "fair", "count": 2, "rolls": [1, 2], "total": 3}, 200,
         "GET /roll-async", "/roll-async"),
        ("/roll-async?die=fair&times=30", None, None, 400, "GET /roll-async", "/roll-async"),
        ("/roll-async?die=risky&times=2", 500, {"error": "die_failed", "message": "-", "failed": 1}, 500,
         "GET /roll-async", "/roll-async"),
        ("/?die=fair&times=2", 200, {"die": "fair", "count": 2, "rolls": [1, 2], "total": 3}, 200, "GET /", "/"),
        ("/nope", None, None, 404, "GET", None),
    ],
)
def test_server_span_records_the_status_answered(
    client, span_exporter, roller, path, roller_status, roller_body, status, name, route
):
    if roller_status:
        roller_answers(roller, roller_status, roller_body)
    response = client.get(path)
    assert response.status_code == status
    server = only_span(span_exporter)
    assert_server_span(server, name, status, route)
    if "die=" in path and status != 400:
        assert server.attributes["die.type"] == path.split("die=")[1].split("&")[0]
    if "times=" in path and status != 400:
        assert server.attributes["die.count"] == int(path.split("times=")[1])


def test_a_wrong_method_is_405_unset(client, span_exporter):
    assert client.post("/roll").status_code == 405
    assert_server_span(only_span(span_exporter), "POST /roll", 405, "/roll")


def test_roller_unreachable_is_503_error(client, span_exporter, settings):
    settings.DICE_ROLLER_URL = f"http://127.0.0.1:{free_port()}"
    assert client.get("/roll?die=fair").status_code == 503
    assert_server_span(only_span(span_exporter), "GET /roll", 503, "/roll")
    assert only_span(span_exporter, SpanKind.CLIENT).status.status_code is StatusCode.ERROR


def test_roller_timeout_is_504_error(client, span_exporter, roller, settings):
    settings.DICE_ROLLER_TIMEOUT_SECONDS = 0.1
    roller.routes["/roll"] = lambda q: (time.sleep(0.5), (200, {"die": "fair", "roll": 1}))[1]
    assert client.get("/roll?die=fair").status_code == 504
    assert_server_span(only_span(span_exporter), "GET /roll", 504, "/roll")


def test_the_client_span_to_the_roller_follows_the_requests_instrumentation(client, span_exporter, roller):
    roller_answers(roller, 404, {"error": "unknown_die", "message": "-"})
    client.get("/roll?die=loaded")
    server, call = only_span(span_exporter), only_span(span_exporter, SpanKind.CLIENT)
    assert call.name == "GET" and call.parent.span_id == server.context.span_id
    assert call.attributes["http.response.status_code"] == 404
    assert call.attributes["url.full"] == f"{roller.url}/roll?die=loaded"
    assert call.attributes["server.address"] == "127.0.0.1"
    # For a client, a 4xx is an error (the request failed), unlike for a server.
    assert call.status.status_code is StatusCode.ERROR and call.attributes["error.type"] == "404"


@pytest.mark.parametrize("path, name, route", [("/roll?die=fair", "GET /roll", "/roll"), ("/", "GET /", "/")])
def test_a_faulted_request_is_named_and_routed_like_any_other(client, span_exporter, path, name, route):
    response = client.get(path, headers={"baggage": "fault.frontend=error:503"})
    assert response.status_code == 503 and response.json()["error"] == "injected_fault"
    server = only_span(span_exporter)
    assert_server_span(server, name, 503, route)
    assert [event.name for event in server.events] == ["fault injected"]
