"""Test helpers: a fake HTTP dependency, and reading a service's /metrics."""

import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import requests

from runtime.backends.http import LoopbackServer, reply


class BrokenOff:
    """An answer a route may give: its status and headers, promising 1,000 bytes, then a
    few, then the connection closes (a dependency that dies mid-answer)."""


class FakeService(LoopbackServer):
    """A real HTTP server on loopback whose answers a test sets per path:
    `fake.routes["/dice"] = lambda query: (200, {"identifiers": ["fair"]})`.
    A handler may sleep to play a slow dependency; `headers` go with every answer."""

    def __init__(self):
        self.routes = {}
        self.headers = {}
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                query = parse_qs(url.query, keep_blank_values=True)
                fake.requests.append((url.path, query, dict(self.headers)))
                route = fake.routes.get(url.path, lambda q: (404, {"error": "not_found", "message": "-"}))
                status, body = route(query)
                if isinstance(body, BrokenOff):
                    self.send_response(status)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"roll": ')
                    self.close_connection = True
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                reply(self, status, "application/json", data, fake.headers)

            def log_message(self, *args):
                pass

        super().__init__(Handler)


def scrape(service, openmetrics=False):
    """{(name, frozenset(labels)): value} of one /metrics scrape, via prometheus_client's parser."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
    from prometheus_client.parser import text_string_to_metric_families as parse_text

    headers = {"Accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
    response = service.get("/metrics", headers=headers)
    response.raise_for_status()
    parse = parse_openmetrics if openmetrics else parse_text
    return {
        (sample.name, frozenset(sample.labels.items())): sample
        for family in parse(response.text)
        for sample in family.samples
    }


def increase(before, after):
    """Scrape `after` with each series less its value in scrape `before` (0 if it was not there
    yet): what was sent between the two, on a stack that other tests share."""
    return {key: sample._replace(value=sample.value - (before[key].value if key in before else 0))
            for key, sample in after.items()}


MISSING = object()


class MissingSeries(KeyError):
    """A series that is not in the scrape: fails a test, and is "not yet" to poll_until."""


def value(samples, name, default=MISSING, **labels):
    """The value of one series of a scrape. A series that is not there fails the test, unless
    `default` says what its absence means (0 for a counter not yet created): a test tells
    "missing" from "zero"."""
    sample = samples.get((name, frozenset(labels.items())))
    if sample is not None:
        return sample.value
    if default is MISSING:
        raise MissingSeries(f"{name}{labels or ''} is not in the scrape")
    return default


def poll_until(condition, timeout=15.0, interval=0.05):
    """Asks `condition()` until it holds: True, or False once `timeout` seconds passed.
    A request that fails meanwhile (a service still starting) counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(interval)
    return False
