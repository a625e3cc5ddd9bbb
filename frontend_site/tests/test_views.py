import logging
import re
import time

import pytest
from django.apps import apps

from frontend_site.die_list import DieList
from harness.ports import free_port
from tests.helpers import BrokenOff, FakeService


def test_page_lists_the_dice_from_the_die_service(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="fair">fair</option>' in html and '<option value="risky">' in html
    assert "<button" in html and "Roll" in html


def test_page_never_shows_a_die_name_that_is_not_an_identifier(client, settings):
    """A die list holding markup is refused whole (die_list.py); the page has no dice then."""
    fake = FakeService()
    try:
        fake.routes["/dice"] = lambda q: (200, {"identifiers": ["fair", "<b>bold</b>"]})
        frontend = apps.get_app_config("frontend_site")
        frontend.die_list = DieList(fake.url, frontend.http, timeout_seconds=0.5, max_age_seconds=60)
        frontend.die_list.refresh()
        html = client.get("/").content.decode()
    finally:
        fake.close()
    assert "<b>bold</b>" not in html and "bold" not in html and "No dice available yet" in html


def test_page_renders_when_the_die_service_is_down(client, die_service):
    die_service.routes["/dice"] = lambda q: (503, b"down")
    frontend = apps.get_app_config("frontend_site")
    frontend.die_list = DieList(die_service.url, frontend.http, timeout_seconds=0.5, max_age_seconds=60)
    frontend.die_list.refresh()  # the start-up fetch failed
    response = client.get("/")
    assert response.status_code == 200 and "No dice available yet" in response.content.decode()


def test_roll_is_forwarded(client, roller):
    roller.routes["/roll"] = lambda q: (200, {"die": q["die"][0], "roll": 4})
    response = client.get("/roll", {"die": "fair"})
    assert response.status_code == 200
    body = response.json()
    assert body["die"] == "fair" and body["roll"] == 4 and "trace_id" in body
    assert roller.requests[0][1] == {"die": ["fair"]}


@pytest.mark.parametrize(
    "status, code",
    [(404, "unknown_die"), (500, "die_failed"), (503, "die_service_unavailable"), (502, "bad_gateway")],
)
def test_roller_errors_keep_their_status(client, roller, status, code):
    roller.routes["/roll"] = lambda q: (status, {"error": code, "message": "From the roller."})
    response = client.get("/roll", {"die": "risky"})
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"] == "From the roller."
    assert "trace_id" in response.json()


def test_unusable_roller_answer_is_502(client, roller):
    roller.routes["/roll"] = lambda q: (200, b"<html>")
    assert client.get("/roll", {"die": "fair"}).json()["error"] == "bad_gateway"


def test_roller_unreachable_is_503(client, settings):
    settings.DICE_ROLLER_URL = f"http://127.0.0.1:{free_port()}"
    response = client.get("/roll", {"die": "fair"})
    assert response.status_code == 503 and response.json()["error"] == "dice_roller_unavailable"


def test_roller_timeout_is_504_after_the_timeout(client, roller):
    roller.routes["/roll"] = lambda q: (time.sleep(1.0), (200, {"die": "fair", "roll": 1}))[1]
    started = time.monotonic()
    response = client.get("/roll", {"die": "fair"})
    assert response.status_code == 504 and response.json()["error"] == "dice_roller_timeout"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "query, code",
    [
        ("", "missing_parameter"),
        ("die=", "missing_parameter"),
        ("die=fair&die=risky", "invalid_identifier"),
        ("die=%3Cscript%3E", "invalid_identifier"),
        ("die=" + "a" * 5000, "invalid_identifier"),
    ],
)
def test_bad_die_parameter_is_400(client, roller, query, code):
    response = client.get("/roll?" + query)
    assert response.status_code == 400 and response.json()["error"] == code
    assert "<script>" not in response.content.decode() and roller.requests == []


def test_unknown_path_and_wrong_method_are_json(client):
    assert client.get("/nope").json()["error"] == "not_found"
    response = client.post("/roll")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_probes_and_metrics(client, die_service):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    die_service.routes["/dice"] = lambda q: (503, b"")
    metrics = client.get("/metrics").content.decode()
    assert re.search(r"^die_types_available 2\.0$", metrics, re.M)
    assert "django_http_requests_total_by_method_total" in metrics


def test_page_rolls_without_javascript(client, roller, settings):
    settings.GRAFANA_URL = "http://grafana.test:3000"
    roller.routes["/roll"] = lambda q: (200, {"die": q["die"][0], "roll": 5})
    response = client.get("/", {"die": "risky"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="result-value" class="result-value">5</p>' in html
    assert '<option value="risky" selected>' in html
    assert "http://grafana.test:3000/explore?" in html


def test_page_tells_a_failed_roll_in_plain_words(client, roller):
    roller.routes["/roll"] = lambda q: (500, {"error": "die_failed", "message": "<i>raw</i>"})
    response = client.get("/", {"die": "risky"})
    html = response.content.decode()
    assert response.status_code == 500 and "The die failed" in html and "<i>raw</i>" not in html


def test_page_never_echoes_a_bad_die(client, roller):
    response = client.get("/", {"die": "<script>alert(1)</script>"})
    html = response.content.decode()
    assert response.status_code == 400 and "Pick a die" in html
    assert "<script>alert" not in html and "alert(1)" not in html and roller.requests == []


def test_page_hands_its_script_json_not_code(client):
    html = client.get("/").content.decode()
    assert '<script id="page-config" type="application/json">' in html
    assert re.findall(r"<script(?![^>]*(?:src=|application/json))", html) == []


def test_security_headers(client):
    for path in ("/", "/roll", "/nope", "/healthz"):
        response = client.get(path)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"


def test_a_cookie_set_by_the_roller_is_never_sent_with_another_roll(client, roller):
    roller.routes["/roll"] = lambda q: (200, {"die": "fair", "roll": 2})
    roller.headers = {"Set-Cookie": "session=alice; Path=/"}
    client.get("/roll", {"die": "fair"})
    client.get("/roll", {"die": "fair"})
    assert [("Cookie" in headers) for _, _, headers in roller.requests] == [False, False]


@pytest.mark.parametrize("path", ["/roll?die=fair&fault=die-service-fails",
                                  "/roll-async?die=fair&times=2&fault=die-service-fails"])
def test_with_faults_off_a_fault_is_refused_and_nothing_is_rolled(client, roller, settings, path):
    settings.SEND_FAULTS = False
    response = client.get(path)
    assert response.status_code == 400 and response.json()["error"] == "faults_disabled"
    assert "fault" not in response.json() and roller.requests == []


def test_with_faults_off_the_page_offers_none_and_claims_none(client, roller, settings):
    settings.SEND_FAULTS = False
    roller.routes["/roll"] = lambda q: (200, {"die": "fair", "roll": 3})
    assert 'id="fault"' not in client.get("/").content.decode()
    refused = client.get("/", {"die": "fair", "fault": "dice-roller-fails"})
    html = refused.content.decode()
    assert refused.status_code == 400 and "Faults are off" in html and 'id="fault"' not in html
    assert 'id="result-fault" class="result-fault" hidden' in html and roller.requests == []
    assert client.get("/roll", {"die": "fair"}).status_code == 200  # rolls without a fault go on


def test_faults_travel_only_with_both_switches_on(monkeypatch):
    """The setting itself: FAULT_INJECTION on and tracing on (no baggage travels without it)."""
    import importlib

    import frontend_site.settings as frontend_settings

    for injection, sdk_disabled, expected in (("on", "false", True), ("off", "false", False), ("on", "true", False)):
        monkeypatch.setenv("FAULT_INJECTION", injection)
        monkeypatch.setenv("OTEL_SDK_DISABLED", sdk_disabled)
        assert importlib.reload(frontend_settings).SEND_FAULTS is expected
    monkeypatch.undo()
    importlib.reload(frontend_settings)


def roller_warnings(caplog):
    return [(r.getMessage(), r.reason) for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "frontend_site.roller_client"]


@pytest.mark.parametrize("path", ["/roll?die=fair", "/roll-async?die=fair&times=2"])
def test_an_answer_broken_off_is_502_with_one_warning(client, roller, caplog, path):
    roller.routes["/roll"] = roller.routes["/roll-async"] = lambda q: (200, BrokenOff())
    with caplog.at_level(logging.WARNING):
        response = client.get(path)
    assert response.status_code == 502 and response.json()["error"] == "bad_gateway"
    assert roller_warnings(caplog) == [("Dice roller gave no usable answer", "broken_answer")]


def test_an_unreachable_or_slow_roller_is_one_warning_each(client, roller, settings, caplog):
    roller.routes["/roll"] = lambda q: (time.sleep(0.8), (200, {"die": "fair", "roll": 1}))[1]
    roller.routes["/roll-async"] = lambda q: (200, b"<html>")
    with caplog.at_level(logging.WARNING):
        assert client.get("/roll", {"die": "fair"}).status_code == 504
        assert client.get("/roll-async", {"die": "fair", "times": "2"}).status_code == 502
        settings.DICE_ROLLER_URL = f"http://127.0.0.1:{free_port()}"
        assert client.get("/roll", {"die": "fair"}).status_code == 503
    assert roller_warnings(caplog) == [
        ("Dice roller gave no usable answer", "timeout"),
        ("Dice roller gave no usable answer", "unusable_answer"),
        ("Dice roller gave no usable answer", "connection_error"),
    ]
