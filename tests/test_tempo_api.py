"""make run's Tempo API (runtime/backends/tempo.py) answers in the shapes that Tempo does: what the
stack check, Grafana's Tempo datasource and the labs read."""

import base64
import time

import pytest
import requests

from backend_apis.tempo import spans_of
from harness.ports import free_port
from runtime.backends.tempo import TempoApi, TraceStore, parse_duration, search, time_range
from stackcheck import promises
from tests.otlp import make_span

MS = 1_000_000
T0 = 1_790_000_000 * 1_000_000_000  # a moment in 2026, in Unix nanoseconds
ROLL = "a" * 32
BATCH = "b" * 32


def span(trace_id, span_id, parent, service, kind, name, start_ms, end_ms, attributes=None, status="UNSET",
         events=()):
    return make_span(trace_id, span_id, parent, service, kind, name, T0 + start_ms * MS, T0 + end_ms * MS,
                     attributes, status, events)


def roll_spans():
    return [
        span(ROLL, "1" * 16, "", "frontend", "SERVER", "GET /roll", 0, 120, {"http.route": "/roll"}),
        span(ROLL, "2" * 16, "1" * 16, "frontend", "CLIENT", "GET", 1, 119),
        span(ROLL, "3" * 16, "2" * 16, "dice-roller", "SERVER", "GET /roll", 2, 118, {"die.type": "fair"}),
        span(ROLL, "4" * 16, "3" * 16, "dice-roller", "CLIENT", "GET", 3, 10),
        span(ROLL, "5" * 16, "4" * 16, "die-service", "SERVER", "GET /dice", 4, 9,
             {"http.response.status_code": 200, "die.found": True},
             events=[("fault injected", {"fault.kind": "delay", "fault.value": 3})]),
        span(ROLL, "6" * 16, "5" * 16, "die-service", "CLIENT", "SELECT dice", 5, 8,
             {"db.system.name": "postgresql", "db.query.text": "SELECT identifier FROM die_specifications"}),
        span(ROLL, "7" * 16, "3" * 16, "dice-roller", "INTERNAL", "roll die", 11, 117),
    ]


def batch_spans(times=5):
    hops = [
        span(BATCH, "a1" * 8, "", "frontend", "SERVER", "GET /roll-async", 0, 2000, {"http.route": "/roll-async"}),
        span(BATCH, "a2" * 8, "a1" * 8, "frontend", "CLIENT", "GET", 1, 1999),
        span(BATCH, "a3" * 8, "a2" * 8, "dice-roller", "SERVER", "GET /roll-async", 2, 1998, status="ERROR"),
        span(BATCH, "a4" * 8, "a3" * 8, "dice-roller", "CLIENT", "GET", 3, 10),
        span(BATCH, "a5" * 8, "a4" * 8, "die-service", "SERVER", "GET /dice", 4, 9),
        span(BATCH, "a6" * 8, "a5" * 8, "die-service", "CLIENT", "SELECT dice", 5, 8, {"db.system.name": "sqlite"}),
    ]
    rolls = [span(BATCH, f"c{index:015x}", "a3" * 8, "dice-roller", "INTERNAL", "roll die", 11, 100 + index,
                  {"die.roll_index": index}) for index in range(times)]
    return hops + rolls


@pytest.fixture(scope="module")
def tempo():
    store = TraceStore()
    store.add(ROLL, roll_spans())
    store.add(BATCH, batch_spans())
    api = TempoApi(store, port=free_port())
    yield api.url
    api.close()


def get(url, **params):
    return requests.get(url, params=params, timeout=5)


def test_a_trace_in_tempos_json(tempo):
    trace = get(f"{tempo}/api/traces/{ROLL}").json()
    assert [batch["resource"]["attributes"][0] for batch in trace["batches"]] == [
        {"key": "service.name", "value": {"stringValue": name}} for name in ("frontend", "dice-roller", "die-service")]
    first = trace["batches"][0]["scopeSpans"][0]["spans"][0]
    # protobuf's JSON: ids in base64, int64 as strings, kinds and status codes by name
    assert base64.b64decode(first["traceId"]).hex() == ROLL and base64.b64decode(first["spanId"]).hex() == "1" * 16
    assert first["kind"] == "SPAN_KIND_SERVER" and first["startTimeUnixNano"] == str(T0) and "parentSpanId" not in first
    die_service = trace["batches"][2]["scopeSpans"][0]["spans"][0]
    assert {"key": "http.response.status_code", "value": {"intValue": "200"}} in die_service["attributes"]
    assert {"key": "die.found", "value": {"boolValue": True}} in die_service["attributes"]
    assert die_service["events"][0]["name"] == "fault injected"
    assert get(f"{tempo}/api/traces/{'c' * 32}").status_code == 404


def test_what_the_stack_check_reads(tempo):
    """The same promises as against Tempo under compose (stackcheck/promises.py)."""
    search = get(f"{tempo}/api/search", tags="http.route=/roll").json()
    trace = get(f"{tempo}/api/traces/{search['traces'][0]['traceID']}").json()
    assert promises.three_service_trace(search, trace)[0]
    assert promises.query_under_die_service(trace)[0]
    assert promises.batch_trace(BATCH, get(f"{tempo}/api/traces/{BATCH}").json(), 5)[0]


def test_the_labs_read_back_every_span_as_it_was(tempo):
    spans = spans_of(get(f"{tempo}/api/traces/{ROLL}").json())
    assert len(spans) == 7 and {s.span_id for s in spans} == {str(n) * 16 for n in range(1, 8)}
    query = next(s for s in spans if s.name == "SELECT dice")
    assert (query.parent_span_id, query.kind, query.ms, query.attributes["db.system.name"]) == (
        "5" * 16, "CLIENT", 3.0, "postgresql")
    assert next(s for s in spans if s.name == "GET /dice").events == [
        ("fault injected", {"fault.kind": "delay", "fault.value": 3})]


@pytest.mark.parametrize(
    "params, found",
    [({}, [BATCH, ROLL]),
     ({"limit": "1"}, [BATCH]),
     ({"minDuration": "1s"}, [BATCH]),
     ({"maxDuration": "500ms"}, [ROLL]),
     ({"tags": "service.name=die-service"}, [BATCH, ROLL]),
     ({"tags": 'name="GET /roll"'}, [ROLL]),
     ({"tags": "http.route=/roll-async"}, [BATCH]),
     ({"tags": "die.found=true http.response.status_code=200"}, [ROLL]),
     ({"tags": "die.found=true http.route=/roll"}, []),  # every tag on one span
     ({"start": str(T0 // 10**9 + 60), "end": str(T0 // 10**9 + 120)}, []),
     ({"start": str(T0 // 10**9 - 60), "end": str(T0 // 10**9 + 60)}, [BATCH, ROLL]),
     ({"start": "0", "end": str(T0 // 10**9 + 60)}, [BATCH, ROLL])],
)
def test_search_as_tempo_filters(tempo, params, found):
    answer = get(f"{tempo}/api/search", **params).json()
    assert [trace["traceID"] for trace in answer["traces"]] == found
    if found:
        assert {"rootServiceName", "rootTraceName", "startTimeUnixNano", "durationMs"} <= set(answer["traces"][0])


def test_a_search_summary_names_the_root_and_its_length(tempo):
    [roll] = get(f"{tempo}/api/search", tags='name="GET /roll"').json()["traces"]
    assert (roll["rootServiceName"], roll["rootTraceName"], roll["durationMs"]) == ("frontend", "GET /roll", 120)


def test_a_bad_duration_is_a_400(tempo):
    assert get(f"{tempo}/api/search", minDuration="soon").status_code == 400
    assert get(f"{tempo}/ready").status_code == 200


def test_a_time_range_as_tempo_3_takes_it(tempo):
    """Both or neither, the end cut at now, the start before the end: a search for the traces
    since this very second is a 400 (found against Tempo 3.0.3 itself)."""
    second = T0 // 10**9
    for params in ({"start": str(second)}, {"end": str(second)}, {"start": str(second), "end": str(second)}):
        assert get(f"{tempo}/api/search", **params).status_code == 400, params
    now = int(time.time())
    assert time_range({"start": str(now - 5), "end": str(now + 60)}, now=now) == ((now - 5) * 10**9, now * 10**9)
    with pytest.raises(ValueError, match="start must be before end"):
        time_range({"start": str(now), "end": str(now + 60)}, now=now)
    assert get(f"{tempo}/ready").status_code == 200


def test_durations_as_go_writes_them():
    assert parse_duration("1.5s") == 1.5e9 and parse_duration("100ms") == 1e8 and parse_duration("1m30s") == 90e9
    with pytest.raises(ValueError):
        parse_duration("10")


def one_span_trace(trace_id):
    return [span(trace_id, "1" * 16, "", "frontend", "SERVER", "GET /", 0, 1)]


def test_the_store_keeps_the_last_traces_within_its_bytes():
    measuring = TraceStore()
    measuring.add("1" * 32, one_span_trace("1" * 32))
    size = measuring.size  # each of these traces is as long
    store = TraceStore(max_bytes=2 * size)
    for trace_id in ("1" * 32, "2" * 32, "3" * 32):
        store.add(trace_id, one_span_trace(trace_id))
    assert [trace_id for trace_id, _ in store.newest_first()] == ["3" * 32, "2" * 32] and store.size == 2 * size


def test_the_store_keeps_the_traces_of_its_window_only():
    now = [1000.0]
    store = TraceStore(keep_seconds=60, clock=lambda: now[0])
    store.add("1" * 32, one_span_trace("1" * 32))
    now[0] += 30
    store.add("2" * 32, one_span_trace("2" * 32))
    now[0] += 31  # the first is 61 s old: gone with the next trace kept
    store.add("3" * 32, one_span_trace("3" * 32))
    assert [trace_id for trace_id, _ in store.newest_first()] == ["3" * 32, "2" * 32]
    assert store.get("1" * 32) == [] and len(store.get("2" * 32)) == 1


def test_a_search_lists_the_newest_first_by_when_they_began_as_tempo_does():
    """A slow trace completes (and is kept) after a quick one that began later: newest first is by start."""
    store = TraceStore()
    quick, slow = "1" * 32, "2" * 32
    store.add(quick, [span(quick, "1" * 16, "", "frontend", "SERVER", "GET /roll", 10, 20)])
    store.add(slow, [span(slow, "1" * 16, "", "frontend", "SERVER", "GET /roll", 5, 3000)])
    assert [found["traceID"] for found in search(store, {})["traces"]] == [quick, slow]
