"""Traces, logs and metrics of real processes, read through real wire formats."""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.stack import Stack
from ops.services import SPANS_PER_ROLL
from runtime.backends.otlp import OtlpReceiver
from tests.helpers import scrape, value

pytestmark = pytest.mark.slow

SPECIFICATIONS = {
    "fair": {"faces": [1, 2, 3, 4, 5, 6], "error_rate": 0},
    "risky": {"faces": [2, 3, 4, 5, 6, 7], "error_rate": 0.1},
    "doomed": {"faces": [1], "error_rate": 1},
}
FAIR_ROLLS, DOOMED_ROLLS, UNKNOWN_ROLLS = 5, 3, 2
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def telemetry_env(tmp_path, receiver, **extra):
    spec_file = tmp_path / "dice.json"
    spec_file.write_text(json.dumps(SPECIFICATIONS))
    return {
        "DIE_SPECIFICATIONS_FILE": str(spec_file),
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **extra,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One stack, one receiver, and a known set of rolls through the frontend."""
    tmp_path = tmp_path_factory.mktemp("telemetry")
    receiver = OtlpReceiver()
    stack = Stack(tmp_path, **telemetry_env(tmp_path, receiver)).start()
    try:
        answers = [stack.frontend.get("/roll", params={"die": "fair"}) for _ in range(FAIR_ROLLS)]
        answers += [stack.frontend.get("/roll", params={"die": "doomed"}) for _ in range(DOOMED_ROLLS)]
        answers += [stack.frontend.get("/roll", params={"die": f"nope{i}"}) for i in range(UNKNOWN_ROLLS)]
        for service in stack.services:  # probes and scrapes must make no spans
            service.get("/healthz"), service.get("/readyz"), service.get("/metrics")
        roll_trace_ids = {answer.json()["trace_id"] for answer in answers}
        # A bad identifier straight to the roller: the frontend would have refused it itself.
        assert stack.roller.get("/roll", params={"die": "bad$$"}).status_code == 400
        receiver.wait_for(
            lambda traces: roll_trace_ids <= set(traces) and _complete(traces, roll_trace_ids)
            and any(_bad_identifier_span(spans) for spans in traces.values())
        )
        yield stack, receiver, answers
    finally:
        stack.stop()
        receiver.close()


def _complete(traces, trace_ids):
    """Each roll trace holds at least its five hops."""
    return all(len(traces.get(trace_id, [])) >= 5 for trace_id in trace_ids)


def _bad_identifier_span(spans):
    return [s for s in spans if s.service == "dice-roller" and s.kind == "SERVER" and "die.type" not in s.attributes]


def _one(spans, service, kind, **attributes):
    found = [
        span for span in spans
        if span.service == service and span.kind == kind
        and all(span.attributes.get(key) == wanted for key, wanted in attributes.items())
    ]
    assert len(found) == 1, f"{service} {kind} {attributes}: {found}"
    return found[0]


def test_each_roll_is_one_trace_across_three_services(run):
    stack, receiver, answers = run
    traces = receiver.traces()
    roll_traces = {
        trace_id: spans for trace_id, spans in traces.items()
        if any(s.service == "frontend" and s.kind == "SERVER" and "die.type" in s.attributes for s in spans)
    }
    assert len(roll_traces) == FAIR_ROLLS + DOOMED_ROLLS + UNKNOWN_ROLLS
    assert set(roll_traces) == {answer.json()["trace_id"] for answer in answers}

    for answer in answers:
        body = answer.json()
        spans = roll_traces[body["trace_id"]]
        # Exactly the roll: no roll span when the die was unknown, nothing else joins.
        assert len(spans) == SPANS_PER_ROLL - (answer.status_code == 404), [s.name for s in spans]
        span_ids = {span.span_id for span in spans}
        roots = [span for span in spans if not span.parent_span_id]
        assert len(roots) == 1 and all(s.parent_span_id in span_ids for s in spans if s is not roots[0])

        frontend_server = roots[0]
        assert (frontend_server.service, frontend_server.kind) == ("frontend", "SERVER")
        die_type = body.get("die") or frontend_server.attributes["die.type"]
        assert frontend_server.attributes["die.type"] == die_type
        frontend_client = _one(spans, "frontend", "CLIENT")
        roller_server = _one(spans, "dice-roller", "SERVER")
        roller_client = _one(spans, "dice-roller", "CLIENT")
        die_server = _one(spans, "die-service", "SERVER")
        chain = [frontend_server, frontend_client, roller_server, roller_client, die_server]
        for parent, child in zip(chain, chain[1:], strict=False):
            assert child.parent_span_id == parent.span_id, f"{child.name} is not under {parent.name}"

        assert roller_server.attributes["die.type"] == die_type
        assert die_server.attributes["die.identifier"] == die_type
        if answer.status_code == 404:
            assert die_server.attributes["die.found"] is False
            continue
        assert die_server.attributes["die.found"] is True
        roll_span = _one(spans, "dice-roller", "INTERNAL")
        assert roll_span.parent_span_id == roller_server.span_id
        if answer.status_code == 200:
            assert roller_server.attributes["die.result"] == body["roll"]
            assert roller_server.attributes["die.error"] is False and not roller_server.failed
        else:
            assert answer.status_code == 500 and body["error"] == "die_failed"
            assert roller_server.attributes["die.error"] is True and roller_server.failed
            assert any(name == "exception" for name, _ in roller_server.events)
            assert roll_span.failed and any(name == "exception" for name, _ in roll_span.events)


ROUTE_OF = {"frontend": "/roll", "dice-roller": "/roll", "die-service": "/dice"}


def test_each_server_span_records_the_status_its_service_answered(run):
    """The contract's status rules: 4xx leave the SERVER span unset, 5xx set ERROR."""
    stack, receiver, answers = run
    traces = receiver.traces()
    seen = set()
    for answer in answers:
        spans = traces[answer.json()["trace_id"]]
        servers = {span.service: span for span in spans if span.kind == "SERVER"}
        assert set(servers) == set(ROUTE_OF)
        # Unknown: 404 on all three hops. Doomed: the die service found the die (200),
        # the roll failed in the roller (500) and the frontend passed that on.
        if answer.status_code == 404:
            expected = {"frontend": 404, "dice-roller": 404, "die-service": 404}
        else:
            expected = {"frontend": answer.status_code, "dice-roller": answer.status_code, "die-service": 200}
        for service, span in servers.items():
            status = expected[service]
            assert span.name == f"GET {ROUTE_OF[service]}" and span.attributes["http.route"] == ROUTE_OF[service]
            assert span.attributes["http.response.status_code"] == status, (service, span.attributes)
            assert span.attributes["http.request.method"] == "GET" and span.attributes["url.path"]
            assert "http.status_code" not in span.attributes and "http.method" not in span.attributes
            assert span.status == ("ERROR" if status >= 500 else "UNSET"), (service, status, span.status)
            assert span.attributes.get("error.type") == (str(status) if status >= 500 else None)
            seen.add((service, status))
        # Every hop's CLIENT span says where it went; the query's, which database it asked.
        for client in (span for span in spans if span.kind == "CLIENT"):
            if client.service == "die-service":
                assert client.attributes["db.system.name"] == "sqlite" and client.attributes["db.query.text"]
                assert client.parent_span_id == servers["die-service"].span_id
            else:
                assert client.attributes["url.full"].startswith("http://127.0.0.1:")
                assert client.attributes["server.address"]
    assert seen == {(service, status) for service in ROUTE_OF for status in (200, 404)} | {
        ("dice-roller", 500), ("frontend", 500)
    }


def test_a_bad_identifier_is_a_400_with_the_roller_span_unset(run):
    stack, receiver, answers = run
    [span] = [span for spans in receiver.traces().values() for span in _bad_identifier_span(spans)]
    assert (span.name, span.attributes["http.response.status_code"], span.status) == ("GET /roll", 400, "UNSET")


def test_resources_name_the_services(run):
    stack, receiver, answers = run
    spans = [span for spans in receiver.traces().values() for span in spans]
    assert {span.service for span in spans} == {"frontend", "dice-roller", "die-service"}
    for span in spans:
        assert span.resource["service.version"] and span.resource["deployment.environment.name"]


def test_probes_and_scrapes_make_no_spans(run):
    stack, receiver, answers = run
    names = {span.name for spans in receiver.traces().values() for span in spans}
    assert not [name for name in names if re.search(r"healthz|readyz|metrics", name)]


def test_start_up_die_list_fetch_is_its_own_trace(run):
    """The first fetch that reached the die service (one before it may have found it still seeding
    its database, and failed: the frontend asks again a second later) is a trace of its own."""
    stack, receiver, answers = run
    fetches = [
        spans for spans in receiver.traces().values()
        if any(s.name == "fetch die list" and not s.parent_span_id and s.status != "ERROR" for s in spans)
    ]
    assert fetches, "no start-up fetch trace"
    spans = min(fetches, key=lambda spans: min(s.start_ns for s in spans))
    root = _one(spans, "frontend", "INTERNAL")
    client = _one(spans, "frontend", "CLIENT")
    server = _one(spans, "die-service", "SERVER")
    query = _one(spans, "die-service", "CLIENT")
    assert client.parent_span_id == root.span_id and server.parent_span_id == client.span_id
    assert query.parent_span_id == server.span_id and len(spans) == 4


def test_every_log_line_is_json_and_its_trace_was_received(run):
    stack, receiver, answers = run
    trace_ids = set(receiver.traces())
    messages = set()
    for service in stack.services:
        for line in service.log_lines():
            record = json.loads(line)
            assert TIMESTAMP.fullmatch(record["timestamp"]), line
            assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
            assert record["logger"] and "message" in record and record["service"] == service.name
            if "trace_id" in record:
                assert re.fullmatch(r"[0-9a-f]{32}", record["trace_id"])
                assert re.fullmatch(r"[0-9a-f]{16}", record["span_id"])
                assert record["trace_id"] in trace_ids, line
            messages.add((service.name, record["level"], record["message"]))
    expected = {
        ("die-service", "INFO", "Die list requested"),
        ("die-service", "INFO", "Die specification requested"),
        ("die-service", "WARNING", "Unknown die identifier requested"),
        ("die-service", "INFO", "Die specifications loaded"),
        ("dice-roller", "INFO", "Roll request received"),
        ("dice-roller", "INFO", "Querying die service for specification"),
        ("dice-roller", "WARNING", "Die service returned error"),
        ("dice-roller", "ERROR", "Die triggered error condition"),
        ("dice-roller", "INFO", "Roll completed"),
        ("frontend", "INFO", "Die list fetched from die service"),
        ("frontend", "INFO", "Roll request received"),
        ("frontend", "INFO", "Dice roller response received"),
    }
    assert expected <= messages
    assert any(logger_line for logger_line in messages if logger_line[2].startswith("GET /roll"))


def test_djangos_own_lines_about_failed_answers_carry_their_trace(run):
    """django.request's "Not Found: /roll" and "Internal Server Error: /roll", written after the
    tracing middleware ended the span, still open the trace of the answer they are about."""
    stack, _, answers = run
    failed = {answer.json()["trace_id"]: answer.status_code for answer in answers if answer.status_code >= 400}
    assert {404, 500} <= set(failed.values())
    # About the rolls: /readyz, which makes no span, may have said 503 while the frontend started.
    lines = [json.loads(line) for line in stack.frontend.log_lines() if '"django.request"' in line]
    lines = [line for line in lines if line["message"].endswith(": /roll")]
    assert sorted(line["trace_id"] for line in lines) == sorted(failed)
    assert all(len(line["span_id"]) == 16 for line in lines)


def test_roll_log_lines_carry_the_roll(run):
    stack, receiver, answers = run
    fair = next(answer.json() for answer in answers if answer.status_code == 200)
    completed = [
        json.loads(line) for line in stack.roller.log_lines() if fair["trace_id"] in line and "Roll completed" in line
    ]
    assert completed[0]["die_type"] == "fair" and completed[0]["roll_value"] == fair["roll"]


def test_metrics_count_exactly_the_requests_made(run):
    stack, receiver, answers = run
    frontend, roller, die_service = scrape(stack.frontend), scrape(stack.roller), scrape(stack.die_service)

    assert value(frontend, "frontend_roll_requests_total", die_type="fair", status="200") == FAIR_ROLLS
    assert value(frontend, "frontend_roll_requests_total", die_type="doomed", status="500") == DOOMED_ROLLS
    assert value(frontend, "frontend_roll_requests_total", die_type="other", status="404") == UNKNOWN_ROLLS
    assert value(frontend, "http_requests_total", method="GET", route="/roll", status="200") == FAIR_ROLLS
    assert value(frontend, "dice_roller_request_duration_seconds_count") == FAIR_ROLLS + DOOMED_ROLLS + UNKNOWN_ROLLS
    assert value(frontend, "die_types_available") == len(SPECIFICATIONS)
    assert value(frontend, "django_http_requests_total_by_method_total", method="GET") > 0

    assert value(roller, "dice_rolls_total", die_type="fair", result="success") == FAIR_ROLLS
    assert value(roller, "dice_rolls_total", die_type="doomed", result="error") == DOOMED_ROLLS
    assert value(roller, "dice_roll_value_count", die_type="fair") == FAIR_ROLLS
    assert value(roller, "die_service_requests_total", identifier="fair", status="200") == FAIR_ROLLS
    assert value(roller, "die_service_requests_total", identifier="other", status="404") == UNKNOWN_ROLLS
    assert value(roller, "die_service_request_duration_seconds_count") == FAIR_ROLLS + DOOMED_ROLLS + UNKNOWN_ROLLS
    assert value(roller, "http_requests_total", method="GET", route="/roll", status="500") == DOOMED_ROLLS
    assert value(roller, "http_requests_total", method="GET", route="/roll", status="400") == 1  # the bad identifier
    assert value(roller, "http_request_duration_seconds_count", method="GET", route="/roll") == 10 + 1

    assert value(die_service, "die_specifications_requested_total", identifier="fair") == FAIR_ROLLS
    assert value(die_service, "die_specifications_requested_total", identifier="doomed") == DOOMED_ROLLS
    assert value(die_service, "die_specifications_requested_total", identifier="other") == UNKNOWN_ROLLS
    assert value(die_service, "die_list_requests_total") >= 1
    assert value(die_service, "die_specifications_loaded") == len(SPECIFICATIONS)
    assert value(die_service, "http_requests_total", method="GET", route="/dice", status="404") == UNKNOWN_ROLLS


def test_histograms_carry_trace_exemplars_in_openmetrics(run):
    stack, receiver, answers = run
    trace_ids = set(receiver.traces())
    for service, name in [
        (stack.frontend, "dice_roller_request_duration_seconds_bucket"),
        (stack.roller, "dice_roll_value_bucket"),
        (stack.die_service, "http_request_duration_seconds_bucket"),
    ]:
        exemplars = [s.exemplar for (n, _), s in scrape(service, openmetrics=True).items() if n == name and s.exemplar]
        assert exemplars, f"no exemplar on {name}"
        assert all(exemplar.labels["trace_id"] in trace_ids for exemplar in exemplars)


def test_a_hundred_unknown_dice_add_no_series(run):
    stack, receiver, answers = run

    def series():
        return {service.name: set(scrape(service)) for service in stack.services}

    before = series()
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = set(pool.map(lambda i: stack.frontend.get("/roll", params={"die": f"unknown-{i}"}).status_code,
                                range(100)))
    assert statuses == {404}
    after = series()
    for name in before:
        assert after[name] == before[name], f"{name} gained {after[name] - before[name]}"


def test_rolls_while_the_die_list_goes_stale_are_exactly_the_roll(tmp_path, start_stack):
    """The stale die list is refreshed off the request path, each refresh a trace of its own."""
    receiver = OtlpReceiver()
    try:
        stack = start_stack(**telemetry_env(tmp_path, receiver, DIE_LIST_MAX_AGE_SECONDS="0.5"))
        trace_ids = []
        for _ in range(15):  # about two and a half seconds: the list goes stale three to five times
            answer = stack.frontend.get("/roll", params={"die": "fair"})
            assert answer.status_code == 200
            trace_ids.append(answer.json()["trace_id"])
            time.sleep(1 / 6)

        def refreshes(traces):
            return [spans for spans in traces.values() if any(s.name == "fetch die list" for s in spans)]

        def reached(spans):  # the start-up fetch may find the die service not listening yet
            return not any(s.service == "frontend" and s.kind == "CLIENT" and s.status == "ERROR" for s in spans)

        traces = receiver.wait_for(  # every refresh whole: the die service's spans come last
            lambda t: all(len(t.get(i, [])) >= SPANS_PER_ROLL for i in trace_ids) and len(refreshes(t)) >= 3
            and all(len(spans) >= 4 for spans in refreshes(t) if reached(spans))
        )
        for trace_id in trace_ids:
            kinds = sorted(span.kind for span in traces[trace_id])
            assert kinds == ["CLIENT", "CLIENT", "CLIENT", "INTERNAL", "SERVER", "SERVER", "SERVER"], kinds
        # The start-up fetch and at least two refreshes, each its own four-span trace (two spans,
        # the frontend's, when the start-up fetch found the die service not listening yet).
        assert len(refreshes(traces)) >= 3 and sum(map(reached, refreshes(traces))) >= 2
        for spans in refreshes(traces):
            assert sorted((s.service, s.kind) for s in spans) == [
                ("die-service", "CLIENT"), ("die-service", "SERVER"), ("frontend", "CLIENT"), ("frontend", "INTERNAL")
            ] if reached(spans) else [("frontend", "CLIENT"), ("frontend", "INTERNAL")]
        stack.stop()  # while the receiver still takes the last spans: no export retries
    finally:
        receiver.close()
