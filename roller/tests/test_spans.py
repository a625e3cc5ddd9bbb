"""The dice roller's SERVER span (and its INTERNAL roll span) for every row of the API table."""

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from roller.die_client import DieServiceBadResponse, DieServiceUnavailable
from roller.tests.fakes import FakeDieService, client_for  # imports falcon.testing before instrumenting
from tests.spans import assert_server_span, exception_events, only_span


@pytest.mark.parametrize(
    "method, path, query, failure, status, name, route",
    [
        ("GET", "/", None, None, 200, "GET /", "/"),
        ("GET", "/roll", "die=fair", None, 200, "GET /roll", "/roll"),
        ("GET", "/roll", None, None, 400, "GET /roll", "/roll"),
        ("GET", "/roll", "die=bad$$", None, 400, "GET /roll", "/roll"),
        ("GET", "/roll", "die=fair&die=risky", None, 400, "GET /roll", "/roll"),
        ("GET", "/roll", "die=loaded", None, 404, "GET /roll", "/roll"),
        ("GET", "/roll", "die=fair", DieServiceUnavailable("timeout"), 503, "GET /roll", "/roll"),
        ("GET", "/roll", "die=fair", DieServiceBadResponse("status 500"), 502, "GET /roll", "/roll"),
        ("GET", "/roll", "die=doomed", None, 500, "GET /roll", "/roll"),
        ("GET", "/nope", None, None, 404, "GET", None),
        ("DELETE", "/roll", None, None, 405, "DELETE /roll", "/roll"),
    ],
)
def test_server_span_records_the_status_answered(instrumented, method, path, query, failure, status, name, route):
    response = client_for(FakeDieService(failure)).simulate_request(method, path, query_string=query)
    assert response.status_code == status
    assert_server_span(only_span(instrumented), name, status, route)


def test_a_roll_carries_the_die_and_its_result(instrumented):
    response = client_for(FakeDieService()).simulate_get("/roll", params={"die": "fair"})
    server, roll = only_span(instrumented), only_span(instrumented, SpanKind.INTERNAL)
    assert server.attributes["die.type"] == "fair"
    assert server.attributes["die.result"] == response.json["roll"] == roll.attributes["die.result"]
    assert server.attributes["die.error"] is False
    assert roll.name == "roll die" and roll.parent.span_id == server.context.span_id


def test_a_failed_roll_is_an_error_with_an_exception_event_on_both_spans(instrumented):
    client_for(FakeDieService()).simulate_get("/roll", params={"die": "doomed"})
    server, roll = only_span(instrumented), only_span(instrumented, SpanKind.INTERNAL)
    assert server.attributes["die.error"] is True and "die.result" not in server.attributes
    assert [event.attributes["exception.type"] for event in exception_events(server)] == ["roller.dice.DieFailed"]
    assert roll.status.status_code is StatusCode.ERROR and len(exception_events(roll)) == 1


def test_a_die_service_failure_is_not_a_roll(instrumented):
    client_for(FakeDieService(DieServiceUnavailable("timeout"))).simulate_get("/roll", params={"die": "fair"})
    assert [span.kind for span in instrumented.get_finished_spans()] == [SpanKind.SERVER]
    assert not exception_events(only_span(instrumented))
