"""The part of TraceQL make run's Tempo answers (runtime/backends/traceql.py), and its search page:
the labs' and the docs' queries find under make run the traces they find in Grafana."""

import time

import pytest
import requests

from harness.ports import free_port
from runtime.backends import traceql
from runtime.backends.tempo import TempoApi, TraceStore
from runtime.views.search import render_search
from tests.otlp import make_span

MS = 1_000_000
NOW = (int(time.time()) - 10) * 10**9
SLOW, FAST = "5" * 32, "f" * 32


def trace(trace_id, query_ms, lab="slow-query"):
    """A roll of the traffic generator: its root, the frontend's span, and a die service query of `query_ms`."""
    return [
        make_span(trace_id, "1" * 16, "", "traffic-generator", "INTERNAL", "user rolls die", NOW, NOW + 1000 * MS,
                  {"lab.name": lab, "die.count": 1}),
        make_span(trace_id, "2" * 16, "1" * 16, "frontend", "SERVER", "GET /roll", NOW + MS, NOW + 999 * MS,
                  {"http.route": "/roll", "http.response.status_code": 200}),
        make_span(trace_id, "3" * 16, "2" * 16, "die-service", "CLIENT", "SELECT die_specifications", NOW + 2 * MS,
                  NOW + (2 + query_ms) * MS, {"db.system.name": "sqlite"}),
    ]


@pytest.mark.parametrize("query, slow, fast", [
    ('{span.lab.name="slow-query"} && {kind=client && span.db.system.name != nil && duration > 200ms}', True, False),
    ("{kind = client && duration >= 300ms}", True, False),
    ('{resource.service.name="frontend" && kind=server && span.http.response.status_code = 200}', True, True),
    ('{.lab.name = "slow-hop"}', False, False),
    ("{span.db.system.name = nil && kind=client}", False, False),
    ('{name="user rolls die" && span.die.count > 0 && status != error}', True, True),
    ("{}", True, True),
    ('{span.http.response.status_code = "200"}', False, False),  # a number is not a string, as in Tempo
])
def test_a_trace_matches_when_each_spanset_matches_one_of_its_spans(query, slow, fast):
    spansets = traceql.parse(query)
    assert (traceql.matches(spansets, trace(SLOW, 400)), traceql.matches(spansets, trace(FAST, 1))) == (slow, fast)


@pytest.mark.parametrize("query", [
    "duration > 1s", "{duration > 1s", "{duration > 1s} ||  {kind=server}", "{duration >> 1s}", "{rate() > 1}",
    "{kind=server} | count() > 2", "{duration > nil}", '{span.x = "a" || span.y = "b"}', "{nonsense = 1}",
])
def test_what_is_outside_the_subset_is_refused_saying_what_is_understood(query):
    with pytest.raises(ValueError, match="make run understands"):
        traceql.parse(query)


@pytest.fixture(scope="module")
def tempo():
    store = TraceStore()
    store.add(SLOW, trace(SLOW, 400))
    store.add(FAST, trace(FAST, 1))
    api = TempoApi(store, port=free_port(), search_page=render_search)
    yield api.url
    api.close()


def test_the_search_api_takes_q(tempo):
    query = "{kind=client && duration > 200ms}"
    answer = requests.get(f"{tempo}/api/search", params={"q": query}, timeout=5)
    assert [found["traceID"] for found in answer.json()["traces"]] == [SLOW]
    refused = requests.get(f"{tempo}/api/search", params={"q": "{duration >> 1s}"}, timeout=5)
    assert refused.status_code == 400 and "make run understands" in refused.json()["error"]


def test_the_search_page_lists_the_traces_found_each_a_link_to_its_page(tempo):
    second = NOW // 10**9
    query = '{span.lab.name="slow-query"} && {kind=client && duration > 200ms}'
    page = requests.get(f"{tempo}/search", params={"q": query, "start": second - 60, "end": second + 900}, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert f'href="/trace/{SLOW}"' in page.text and FAST not in page.text
    assert "1 trace, newest first since" in page.text
    assert 'value="{span.lab.name=&quot;slow-query&quot;}' in page.text  # the query, escaped, to edit
    empty = requests.get(f"{tempo}/search", params={"q": '{span.lab.name="slow-hop"}'}, timeout=5)
    assert "No trace matches" in empty.text
    broken = requests.get(f"{tempo}/search", params={"q": "<script>"}, timeout=5)
    assert broken.status_code == 400 and "cannot be read" in broken.text and "<script>" not in broken.text


def test_every_labs_search_is_one_make_run_answers():
    """The same query opens Grafana's Explore under compose (tests/test_dashboard.py parses it in
    Grafana's grammar) and make run's search page without Docker."""
    from labs.catalog import LABS

    for lab in LABS.values():
        if lab.search:
            assert len(traceql.parse(lab.search_query())) == 2, lab.name
