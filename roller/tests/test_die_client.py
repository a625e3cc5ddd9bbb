import logging
import time

import pytest

from harness.ports import free_port
from ops.http_session import create_session
from roller.die_client import DieServiceBadResponse, DieServiceClient, DieServiceUnavailable, UnknownDie
from tests.helpers import BrokenOff, FakeService


@pytest.fixture
def die_service():
    fake = FakeService()
    yield fake
    fake.close()


def client_for(url, timeout=2.0):
    return DieServiceClient(url, timeout, create_session())


def test_specification(die_service):
    die_service.routes["/dice"] = lambda q: (200, {"identifier": q["identifier"][0], "faces": [1, 2], "error_rate": 0})
    die = client_for(die_service.url).get_die("fair")
    assert die.faces == [1, 2] and die.error_rate == 0
    assert die_service.requests[0][1] == {"identifier": ["fair"]}


def test_unknown_die(die_service):
    die_service.routes["/dice"] = lambda q: (404, {"error": "unknown_die", "message": "no"})
    with pytest.raises(UnknownDie):
        client_for(die_service.url).get_die("nope")


@pytest.mark.parametrize(
    "answer",
    [
        (500, {"error": "internal_error", "message": "boom"}),
        (503, b"<html>down</html>"),
        (200, b"not json"),
        (200, {"faces": [], "error_rate": 0}),
        (200, {"faces": [1, "2"], "error_rate": 0}),
        (200, {"faces": [1], "error_rate": 2}),
        (200, {"faces": [1]}),
        (200, [1, 2, 3]),
    ],
)
def test_errors_and_malformed_specifications_are_bad_responses(die_service, answer):
    die_service.routes["/dice"] = lambda q: answer
    with pytest.raises(DieServiceBadResponse):
        client_for(die_service.url).get_die("fair")


def test_connection_refused_is_unavailable_and_fast():
    started = time.monotonic()
    with pytest.raises(DieServiceUnavailable, match="connection_error"):
        client_for(f"http://127.0.0.1:{free_port()}").get_die("fair")
    assert time.monotonic() - started < 1.0


def test_slow_answer_is_a_timeout(die_service):
    die_service.routes["/dice"] = lambda q: (time.sleep(0.6), (200, {"faces": [1], "error_rate": 0}))[1]
    with pytest.raises(DieServiceUnavailable, match="timeout"):
        client_for(die_service.url, timeout=0.2).get_die("fair")


def test_a_cookie_set_by_the_die_service_is_never_sent_back(die_service):
    """The session is shared by every request a worker handles: a cookie kept from one
    user's call would go out with every other user's."""
    calls = []

    def dice(query):
        calls.append(query)
        return 200, {"identifier": "fair", "faces": [1, 2, 3], "error_rate": 0}

    die_service.routes["/dice"] = dice
    die_service.headers = {"Set-Cookie": "session=alice; Path=/"}
    client = client_for(die_service.url)
    client.get_die("fair")
    client.get_die("fair")
    assert [("Cookie" in headers) for _, _, headers in die_service.requests] == [False, False]


def test_an_answer_broken_off_is_a_bad_response_logged_once(die_service, caplog):
    die_service.routes["/dice"] = lambda q: (200, BrokenOff())
    with caplog.at_level(logging.WARNING, logger="roller.die_client"), pytest.raises(DieServiceBadResponse):
        client_for(die_service.url).get_die("fair")
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.getMessage() == "Die service returned error" and record.reason == "broken_answer"
