import random

import pytest

from roller.die_client import DieServiceBadResponse, DieServiceUnavailable
from roller.tests.fakes import DICE, FakeDieService, client_for


def test_roll_returns_a_face_of_the_die():
    client = client_for(FakeDieService())
    for _ in range(50):
        response = client.simulate_get("/roll", params={"die": "fair"})
        assert response.status_code == 200
        assert response.json["die"] == "fair" and response.json["roll"] in DICE["fair"].faces


def test_risky_die_fails_at_its_error_rate_exactly_as_the_seeded_source_says():
    rolls = 1000
    client = client_for(FakeDieService(), seed=7)
    failures = sum(
        client.simulate_get("/roll", params={"die": "risky"}).status_code == 500 for _ in range(rolls)
    )
    # The same seeded source, drawn in the roller's order: delay, failure check, face.
    replay, expected = random.Random(7), 0
    for _ in range(rolls):
        replay.uniform(0, 0)
        if replay.random() < 0.1:
            expected += 1
        else:
            replay.choice(DICE["risky"].faces)
    assert failures == expected
    assert 70 <= failures <= 130  # and that is about 10 %


def test_failed_roll_is_500_die_failed():
    response = client_for(FakeDieService()).simulate_get("/roll", params={"die": "doomed"})
    assert response.status_code == 500
    assert response.json["error"] == "die_failed" and response.json["message"]


@pytest.mark.parametrize(
    "failure, status, code",
    [
        (DieServiceUnavailable("connection_error"), 503, "die_service_unavailable"),
        (DieServiceUnavailable("timeout"), 503, "die_service_unavailable"),
        (DieServiceBadResponse("status 500"), 502, "bad_gateway"),
    ],
)
def test_die_service_failures(failure, status, code):
    response = client_for(FakeDieService(failure)).simulate_get("/roll", params={"die": "fair"})
    assert response.status_code == status and response.json["error"] == code


def test_unknown_die_is_404():
    response = client_for(FakeDieService()).simulate_get("/roll", params={"die": "loaded"})
    assert response.status_code == 404 and response.json["error"] == "unknown_die"


@pytest.mark.parametrize(
    "query, code",
    [
        ("", "missing_parameter"),
        ("die=", "missing_parameter"),
        ("die=fair&die=risky", "invalid_identifier"),
        ("die=%3Cscript%3Ealert(1)%3C/script%3E", "invalid_identifier"),
        ("die=" + "a" * 5000, "invalid_identifier"),
        ("die=fair%26identifier%3Drisky", "invalid_identifier"),
    ],
)
def test_bad_die_parameter_is_400_and_never_reaches_the_die_service(query, code):
    die_service = FakeDieService()
    response = client_for(die_service).simulate_get("/roll", query_string=query)
    assert response.status_code == 400 and response.json["error"] == code
    assert "<script>" not in response.text and "aaaaaaaa" not in response.text
    assert die_service.asked == []


def test_readiness_follows_the_die_service():
    assert client_for(FakeDieService()).simulate_get("/readyz").status_code == 200
    not_ready = client_for(FakeDieService(DieServiceUnavailable("timeout"))).simulate_get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json["error"] == "not_ready"


def test_info_unknown_path_and_wrong_method():
    client = client_for(FakeDieService())
    assert client.simulate_get("/").json["service"] == "dice-roller"
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_get("/nope").json["error"] == "not_found"
    assert client.simulate_delete("/roll").status_code == 405
