"""What the roll journey's objectives read from the frontend (docs/slo.md): a die's own simulated
failure counted apart from the other 5xx answers, by route, and the latency threshold's bucket."""

import pytest
from prometheus_client import REGISTRY

from ops.metrics import SLO_LATENCY_THRESHOLD_SECONDS

FAILED = {"error": "die_failed", "message": "The die fell off the table (a simulated failure)."}


def die_failed_answers(route):
    return REGISTRY.get_sample_value("frontend_die_failed_answers_total", {"route": route})


def test_every_rolling_route_has_its_series_from_the_start():
    for route in ("/", "/roll", "/roll-async"):
        assert die_failed_answers(route) is not None, route


@pytest.mark.parametrize(
    "path, roller_path, query",
    [("/roll", "/roll", {"die": "risky"}), ("/roll-async", "/roll-async", {"die": "risky", "times": "3"}),
     ("/", "/roll", {"die": "risky"})],
)
def test_a_die_failed_answer_is_counted_under_its_route(client, roller, path, roller_path, query):
    roller.routes[roller_path] = lambda q: (500, {**FAILED, "failed": 1})
    before = die_failed_answers(path)
    assert client.get(path, query).status_code == 500
    assert die_failed_answers(path) == before + 1


@pytest.mark.parametrize("status, code", [(500, "internal_error"), (503, "die_service_unavailable"),
                                          (502, "bad_gateway"), (500, "injected_fault"), (404, "unknown_die")])
def test_other_answers_are_not_a_die_failure(client, roller, status, code):
    roller.routes["/roll"] = lambda q: (status, {"error": code, "message": "-"})
    before = die_failed_answers("/roll")
    assert client.get("/roll", {"die": "risky"}).status_code == status
    assert die_failed_answers("/roll") == before


def test_the_latency_threshold_is_a_bucket_of_the_request_histogram(client, roller):
    roller.routes["/roll"] = lambda q: (200, {"die": "fair", "roll": 4})
    client.get("/roll", {"die": "fair"})
    within = REGISTRY.get_sample_value("http_request_duration_seconds_bucket",
                                       {"method": "GET", "route": "/roll", "le": str(SLO_LATENCY_THRESHOLD_SECONDS)})
    assert within is not None and within >= 1
