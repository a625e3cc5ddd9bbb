"""Bad input, tried on all three services as real processes: every answer is the contract's
JSON error, nothing is echoed raw, nothing is a 500, and no input becomes a metric series."""

import pytest
import requests

from tests.helpers import scrape

pytestmark = pytest.mark.slow

SCRIPT = "<script>alert(1)</script>"
# (query string, expected error): the raw query, as a client could send it.
BAD_QUERIES = [
    ("", "missing_parameter"),
    ("{name}=", "missing_parameter"),
    ("{name}=fair&{name}=fair", "invalid_identifier"),
    ("{name}=" + "a" * 5000, "invalid_identifier"),
    ("{name}=d%C3%A9", "invalid_identifier"),  # dé
    ("{name}=%F0%9F%8E%B2", "invalid_identifier"),  # a die emoji
    ("{name}=fair%26identifier%3Drisky", "invalid_identifier"),
    ("{name}=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "invalid_identifier"),
    ("{name}=..%2F..%2Fetc%2Fpasswd", "invalid_identifier"),
    ("{name}=fair%00", "invalid_identifier"),
]
# What each service takes a die by: (path, parameter name).
ENDPOINTS = {"die_service": ("/dice", "identifier"), "roller": ("/roll", "die"), "frontend": ("/roll", "die")}
NOT_ECHOED = ["a" * 100, "<script", "alert(1)", "dé", "etc/passwd", "identifier=risky"]


@pytest.fixture
def stack(shared_stack):
    return shared_stack


def assert_json_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and body["message"]
    for text in NOT_ECHOED:
        assert text not in response.text


def hit_everything(stack, salt):
    """Every kind of bad request once on each service; `salt` makes the values new."""
    for name, (path, parameter) in ENDPOINTS.items():
        service = getattr(stack, name)
        for query, code in BAD_QUERIES:
            response = requests.get(f"{service.url}{path}?{query.format(name=parameter)}", timeout=5)
            if code == "missing_parameter" and name == "die_service" and not query:
                # /dice without an identifier is the list of dice, not an error.
                assert response.status_code == 200
                continue
            assert_json_error(response, 400, code)
        for unknown in (f"/nope-{salt}", f"/{path.strip('/')}/{salt}", f"/%3Cscript%3E{salt}"):
            assert_json_error(requests.get(service.url + unknown, timeout=5), 404, "not_found")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            response = requests.request(method, f"{service.url}{path}?{parameter}=fair", timeout=5)
            assert_json_error(response, 405, "method_not_allowed")
        # The page answers HTML: it tells in plain words, without the value, and is no 500.
        if name == "frontend":
            page = requests.get(f"{service.url}/?die=%3Cscript%3E{salt}", timeout=5)
            assert page.status_code == 400 and "<script>" + salt not in page.text


def series(service):
    return set(scrape(service))


def test_bad_input_gets_json_errors_and_adds_no_series(stack):
    # The first round and the first scrape make the series of each status and route once;
    # a second round with new values must add none.
    for name in ENDPOINTS:
        series(getattr(stack, name))
    hit_everything(stack, "first")
    before = {name: series(getattr(stack, name)) for name in ENDPOINTS}
    hit_everything(stack, "second")
    for name, known in before.items():
        assert series(getattr(stack, name)) - known == set(), name


def test_oversized_request_line_is_refused_by_gunicorn_without_echo(stack):
    for service in stack.services:
        response = requests.get(f"{service.url}/roll?die={'x' * 9000}", timeout=5)
        assert response.status_code == 414 and "xxxxxxxxxx" not in response.text
        assert service.get("/healthz").status_code == 200


def test_no_version_banner(stack):
    for service in stack.services:
        assert service.get("/healthz").headers["Server"] == "gunicorn"
