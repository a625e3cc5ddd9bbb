"""Break one request on purpose (docs/faults.md): faults carried in W3C baggage,
applied by the service they name, seen in the answer, the trace, the logs and the metrics."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.stack import ServiceProcess, Stack
from ops.faults import Fault, MalformedFault, burn_cpu_for_fault, parse_database_fault, parse_fault
from runtime.backends.otlp import OtlpReceiver
from tests.helpers import scrape, value


@pytest.mark.parametrize(
    "text, fault",
    [("delay:1500", Fault("delay", 1500)), ("delay:0", Fault("delay", 0)), ("delay:10000", Fault("delay", 10000)),
     ("error:500", Fault("error", 500)), (" error:504 ", Fault("error", 504)), ("cpu:300", Fault("cpu", 300)),
     ("cpu:10000", Fault("cpu", 10000))],
)
def test_faults_are_read(text, fault):
    assert parse_fault(text) == fault


@pytest.mark.parametrize(
    "text", ["delay:abc", "delay:-5", "delay:999999", "delay:10001", "delay:1.5", "delay:", "error:200",
             "error:418", "error:5030", "boom:1", "", "delay:١٢", "x" * 5000, "cpu:10001", "cpu:", "cpu:-1"],
)
def test_malformed_faults_are_refused(text):
    with pytest.raises(MalformedFault):
        parse_fault(text)


@pytest.mark.parametrize(
    "text, fault",
    [("delay:300", Fault("delay", 300)), ("error:broken", Fault("error", "broken")),
     ("error:503", Fault("error", "503")), ("error:disk_full-1", Fault("error", "disk_full-1"))],
)
def test_database_faults_are_read(text, fault):
    assert parse_database_fault(text) == fault


@pytest.mark.parametrize(
    "text", ["error:", "error:a b", "error:<script>", "error:" + "x" * 33, "delay:x", "oops:1", "cpu:300"])
def test_malformed_database_faults_are_refused(text):
    with pytest.raises(MalformedFault):
        parse_database_fault(text)


def test_a_cpu_fault_spends_cpu_not_time_asleep():
    thread_started, started = time.thread_time(), time.perf_counter()
    burn_cpu_for_fault(80)
    assert time.thread_time() - thread_started >= 0.08
    assert time.perf_counter() - started >= 0.08


def baggage(*entries):
    return {"baggage": ",".join(entries)}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """One stack exporting to a receiver, with short timeouts so that slow faults are quick."""
    folder = tmp_path_factory.mktemp("faults")
    receiver = OtlpReceiver()
    stack = Stack(
        folder, OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100", DIE_SERVICE_TIMEOUT_SECONDS="0.6", DICE_ROLLER_TIMEOUT_SECONDS="1",
        DATABASE_TIMEOUT_SECONDS="0.3",
    ).start()
    yield stack, receiver
    stack.stop()
    receiver.close()


def roll(stack, headers=None):
    started = time.monotonic()
    answer = stack.frontend.get("/roll", params={"die": "fair"}, headers=headers or {})
    return answer, time.monotonic() - started


def is_query(span):
    """The die service's database query."""
    return span.kind == "CLIENT" and span.service == "die-service"


def server_span(receiver, trace_id, service):
    traces = receiver.wait_for(lambda t: any(s.service == service and s.kind == "SERVER" for s in t.get(trace_id, [])))
    [span] = [s for s in traces[trace_id] if s.service == service and s.kind == "SERVER"]
    return span


# (baggage entry, the status the user gets, its error code, the service whose span shows the
# fault, the status that span records, the least and most seconds the user waits)
CASES = [
    ("fault.die-service=error:503", 502, "bad_gateway", "die-service", 503, 0, 0.5),
    ("fault.die-service=delay:1000", 503, "die_service_unavailable", "die-service", 200, 0.5, 1.0),
    ("fault.die-service=delay:200", 200, None, "die-service", 200, 0.2, 0.5),
    ("fault.dice-roller=error:500", 500, "injected_fault", "dice-roller", 500, 0, 0.5),
    ("fault.dice-roller=delay:1500", 504, "dice_roller_timeout", "dice-roller", 200, 1.0, 1.5),
    ("fault.frontend=error:504", 504, "injected_fault", "frontend", 504, 0, 0.5),
    ("fault.frontend=delay:300", 200, None, "frontend", 200, 0.3, 0.6),
    # Computing instead of waiting: the same answer, the time spent on a CPU (two tests share
    # this machine's cores, hence the room above 0.2 s).
    ("fault.dice-roller=cpu:200", 200, None, "dice-roller", 200, 0.2, 0.5),
]


@pytest.mark.slow
@pytest.mark.parametrize("entry, status, code, service, span_status, least, most", CASES)
def test_each_fault_at_each_service(faulty, entry, status, code, service, span_status, least, most):
    stack, receiver = faulty
    kind = entry.split("=")[1].split(":")[0]
    process = {"die-service": stack.die_service, "dice-roller": stack.roller, "frontend": stack.frontend}[service]
    route = "/dice" if service == "die-service" else "/roll"
    # Baselines: a series not yet created has counted nothing.
    counted = value(scrape(process), "faults_injected_total", default=0, kind=kind)
    answered = value(scrape(process), "http_requests_total", default=0, method="GET", route=route,
                     status=str(span_status))

    answer, seconds = roll(stack, baggage(entry))
    assert answer.status_code == status and answer.json().get("error") == code, answer.text
    assert least <= seconds < most + 0.5, seconds

    trace_id = answer.json()["trace_id"]
    span = server_span(receiver, trace_id, service)
    [(name, attributes)] = [event for event in span.events if event[0] == "fault injected"]
    assert attributes == {"fault.kind": kind, "fault.value": int(entry.rsplit(":", 1)[1])}
    # The faulted span records what its service answered, by the usual status rules (a
    # delayed die service still answered 200, only too late for the roller).
    if span_status != 200 or service != "die-service":
        assert span.attributes["http.response.status_code"] == span_status
    assert span.status == ("ERROR" if span_status >= 500 else "UNSET")
    # Applied after routing: named and counted by its route, like any other answer.
    assert span.name == f"GET {route}" and span.attributes["http.route"] == route
    assert value(scrape(process), "http_requests_total", method="GET", route=route, status=str(span_status)) == (
        answered + 1)

    logged = [json.loads(line) for line in process.log_lines() if trace_id in line and "Fault injected" in line]
    assert [(r["level"], r["fault_kind"], r["service"]) for r in logged] == [("WARNING", kind, service)]
    assert value(scrape(process), "faults_injected_total", kind=kind) == counted + 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "entry, status, code, query_status, least",
    [("fault.database=delay:150", 200, None, "UNSET", 0.15),
     ("fault.database=error:broken", 502, "bad_gateway", "ERROR", 0)],
)
def test_a_database_fault_is_applied_inside_the_query(faulty, entry, status, code, query_status, least):
    """The die service applies it to its own query: the delay is in the query's span, the error
    is the query's (503 from the die service, a bad gateway to the user)."""
    stack, receiver = faulty
    errors_before = value(scrape(stack.die_service), "database_queries_total", query_type="get", result="error")
    answer, seconds = roll(stack, baggage(entry))
    assert answer.status_code == status and answer.json().get("error") == code, answer.text
    assert seconds >= least
    trace_id = answer.json()["trace_id"]
    traces = receiver.wait_for(lambda t: any(is_query(s) for s in t.get(trace_id, [])))
    [query] = [s for s in traces[trace_id] if is_query(s)]
    server = server_span(receiver, trace_id, "die-service")
    assert query.parent_span_id == server.span_id and query.status == query_status
    assert query.seconds >= least and server.seconds - query.seconds < 0.1  # the time is the query's
    [(_, attributes)] = [event for event in server.events if event[0] == "fault injected"]
    assert attributes["fault.kind"] == entry.split("=")[1].split(":")[0]
    if query_status == "ERROR":
        assert query.attributes["error.type"] == "OperationalError"  # SQLite: no such table
        assert server.attributes["http.response.status_code"] == 503
        assert value(scrape(stack.die_service), "database_queries_total", query_type="get", result="error") == (
            errors_before + 1)


@pytest.mark.slow
def test_rolls_without_a_fault_beside_faulted_ones_are_untouched(faulty):
    stack, receiver = faulty
    slow = baggage("fault.die-service=delay:400")
    with ThreadPoolExecutor(max_workers=10) as pool:
        faulted = [pool.submit(roll, stack, slow) for _ in range(5)]
        plain = [pool.submit(roll, stack) for _ in range(5)]
        faulted, plain = [f.result() for f in faulted], [f.result() for f in plain]
    assert all(answer.status_code == 200 and seconds >= 0.4 for answer, seconds in faulted)
    assert all(answer.status_code == 200 and seconds < 0.35 for answer, seconds in plain), plain
    for answer, _ in plain:
        span = server_span(receiver, answer.json()["trace_id"], "die-service")
        assert not [event for event in span.events if event[0] == "fault injected"]


MALFORMED = ["delay:abc", "delay:-5", "delay:999999", "error:200", "error:418", "delay:" + "9" * 3000]


@pytest.mark.slow
def test_malformed_entries_never_change_the_answer(faulty):
    stack, _ = faulty
    before = value(scrape(stack.die_service), "faults_injected_total", kind="delay")
    for entry in MALFORMED:
        answer, seconds = roll(stack, baggage(f"fault.die-service={entry}"))
        assert answer.status_code == 200 and seconds < 0.5, (entry, answer.text)
    # Many entries at once, ours malformed among others' and other services' harmless ones.
    many = [f"other.key{i}=v{i}" for i in range(60)] + ["fault.die-service=delay:nope", "fault.nobody=error:500"]
    answer, _ = roll(stack, baggage(*many))
    assert answer.status_code == 200
    warnings = [json.loads(line) for line in stack.die_service.log_lines() if "Malformed fault entry ignored" in line]
    assert len(warnings) == len(MALFORMED) + 1 and all(w["level"] == "WARNING" for w in warnings)
    assert all(len(w["fault_entry"]) <= 64 for w in warnings)
    assert value(scrape(stack.die_service), "faults_injected_total", kind="delay") == before


@pytest.mark.slow
def test_fault_injection_off_ignores_every_entry(tmp_path):
    env = {**Stack.BASE_ENV, "FAULT_INJECTION": "off", "DATABASE_URL": f"sqlite:///{tmp_path / 'dice.sqlite3'}"}
    die_service = ServiceProcess("diespec.app:create_app()", env, tmp_path, "die-service").start()
    try:
        for entry in ("fault.die-service=error:503", "fault.die-service=delay:2000", "fault.database=error:x",
                      "fault.database=delay:2000"):
            started = time.monotonic()
            answer = requests.get(die_service.url + "/dice", params={"identifier": "fair"}, headers=baggage(entry),
                                  timeout=5)
            assert answer.status_code == 200 and time.monotonic() - started < 1
        assert value(scrape(die_service), "faults_injected_total", kind="error") == 0
        assert not [line for line in die_service.log_lines() if "Fault" in line]
    finally:
        die_service.stop()


@pytest.mark.slow
def test_the_pages_database_choice_fails_the_query(faulty):
    """"Break something" → "Database query fails": sent as fault.database, failed by the database."""
    stack, receiver = faulty
    answer = stack.frontend.get("/roll", params={"die": "fair", "fault": "database-fails"})
    assert (answer.status_code, answer.json()["error"]) == (502, "bad_gateway")
    assert answer.json()["fault"] == "fault.database=error:query_failed"
    trace_id = answer.json()["trace_id"]
    traces = receiver.wait_for(lambda t: any(is_query(s) for s in t.get(trace_id, [])))
    [query] = [s for s in traces[trace_id] if is_query(s)]
    assert query.status == "ERROR"
