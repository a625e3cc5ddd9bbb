"""The die service's database on real processes, on both engines: the query in a roll's trace,
a die added with SQL, seeding once per deployment, outages and their end, the metrics."""

import json
import sqlite3
import time
import uuid

import pytest

from harness.stack import Stack
from ops.services import SPANS_PER_ROLL
from runtime.backends.otlp import OtlpReceiver
from tests.helpers import poll_until, scrape, value
from tests.test_telemetry import telemetry_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request, tmp_path_factory):
    """(engine, stack, receiver, run_sql): one stack per engine for the tests below, two die-service
    workers with pools of 3, traces to a receiver; `run_sql` is the learner's sqlite3 or psql on
    its database (a SQLite file, or a database of its own on the run's PostgreSQL)."""
    engine, folder = request.param, tmp_path_factory.mktemp(f"database-{request.param}")
    if engine == "sqlite":
        path = folder / "dice.sqlite3"
        url = f"sqlite:///{path}"

        def run_sql(statement):
            with sqlite3.connect(path) as connection:
                return connection.execute(statement).fetchall()
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"dice_{uuid.uuid4().hex[:12]}"
        url = server.create_database(name)

        def run_sql(statement):
            return server.psql(statement, database=name)

    receiver = OtlpReceiver()
    stack = Stack(folder, **telemetry_env(folder, receiver, DATABASE_URL=url, WEB_CONCURRENCY=2,
                                          DATABASE_POOL_SIZE=3, DIE_LIST_MAX_AGE_SECONDS=1))
    try:
        stack.start()
        yield engine, stack, receiver, run_sql
    finally:
        stack.stop()
        receiver.close()


def test_a_roll_is_seven_spans_with_the_query_under_the_die_service(deployment):
    engine, stack, receiver, run_sql = deployment
    answer = stack.frontend.get("/roll", params={"die": "fair"})
    assert answer.status_code == 200
    trace_id = answer.json()["trace_id"]
    traces = receiver.wait_for(lambda t: len(t.get(trace_id, [])) >= SPANS_PER_ROLL)
    spans = traces[trace_id]
    assert len(spans) == SPANS_PER_ROLL
    [server] = [s for s in spans if (s.service, s.kind) == ("die-service", "SERVER")]
    [query] = [s for s in spans if (s.service, s.kind) == ("die-service", "CLIENT")]
    assert query.parent_span_id == server.span_id and query.status == "UNSET"
    assert query.attributes["db.system.name"] == engine
    assert query.attributes["db.query.text"].startswith("SELECT identifier, faces, error_rate FROM die_specifications")
    assert "fair" not in query.attributes["db.query.text"]
    assert server.start_ns <= query.start_ns and query.end_ns <= server.end_ns
    if engine == "postgresql":
        assert query.attributes["server.address"] == "127.0.0.1" and query.attributes["db.namespace"].startswith("dice")
    # Seeding, the pool's first connection and the start-up die list make no query span of their own.
    time.sleep(0.3)
    lone_queries = [
        spans for spans in receiver.traces().values()
        if any(s.kind == "CLIENT" and s.service == "die-service" for s in spans)
        and not any(s.kind == "SERVER" and s.service == "die-service" for s in spans)
    ]
    assert lone_queries == []


def test_a_die_inserted_with_sql_rolls_at_once_with_nothing_restarted(deployment):
    engine, stack, receiver, run_sql = deployment
    assert stack.frontend.get("/roll", params={"die": "d3"}).status_code == 404
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) VALUES ('d3', '[1, 2, 3]', 0)")
    assert stack.frontend.get("/roll", params={"die": "d3"}).json()["roll"] in (1, 2, 3)
    assert poll_until(lambda: '<option value="d3">' in stack.frontend.get("/").text)
    # A row that breaks the contract: 500 from the die service, 502 through the roller, one ERROR line.
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) VALUES ('warped', '[1, 2]', 7)")
    assert stack.die_service.get("/dice", params={"identifier": "warped"}).json()["error"] == (
        "invalid_die_specification")
    assert stack.frontend.get("/roll", params={"die": "warped"}).json()["error"] == "bad_gateway"
    lines = [json.loads(line) for line in stack.die_service.log_lines() if "Invalid die specification" in line]
    assert [(line["level"], line["identifier"]) for line in lines] == [("ERROR", "warped"), ("ERROR", "warped")]
    assert all(service.process.poll() is None for service in stack.services)


def test_two_workers_seed_once_and_report_their_pools_together(deployment):
    engine, stack, receiver, run_sql = deployment
    before = value(scrape(stack.die_service), "database_queries_total", query_type="get", result="success")
    rolls = 6
    for _ in range(rolls):
        assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200
    messages = [json.loads(line)["message"] for line in stack.die_service.log_lines() if line.startswith("{")]
    assert messages.count("Die specifications seeded") == 1
    assert messages.count("Database connection pool established") == 2
    samples = scrape(stack.die_service)
    assert value(samples, "database_connection_pool_size") == 6
    assert value(samples, "database_connection_pool_available") == 6
    # Each roll's query; the frontend's die list at its start among the lists.
    assert value(samples, "database_queries_total", query_type="get", result="success") == before + rolls
    assert value(samples, "database_queries_total", query_type="list", result="success") >= 1
    assert run_sql("SELECT count(*) FROM die_specifications WHERE identifier IN ('fair', 'risky', 'doomed')") in (
        "3", [(3,)])


@pytest.fixture(scope="module")
def on_postgresql(tmp_path_factory, postgres_server):
    """The services with the default timeouts on a database of their own, for the outages below:
    each takes PostgreSQL down and brings it back."""
    url = postgres_server.create_database(f"dice_{uuid.uuid4().hex[:12]}")
    stack = Stack(tmp_path_factory.mktemp("outage"), DATABASE_URL=url).start()
    yield stack
    stack.stop()


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_postgresql_down_is_a_quick_503_and_rolls_return_by_themselves(on_postgresql, postgres_server, outage):
    """Through the roller, the die service's 503 is a 502 bad_gateway (docs/api.md)."""
    stack = on_postgresql
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200
    seen = len(stack.die_service.log_lines())  # the lines of an outage before this one
    stop, start = {
        "stopped": (postgres_server.pg_ctl_stop, postgres_server.pg_ctl_start),
        "frozen": (postgres_server.pause, postgres_server.resume),
    }[outage]
    stop()
    try:
        started = time.monotonic()
        during = stack.frontend.get("/roll", params={"die": "fair"})
        waited = time.monotonic() - started
        direct = stack.die_service.get("/dice", params={"identifier": "fair"}) if outage == "stopped" else None
        ready = stack.die_service.get("/readyz") if outage == "stopped" else None
    finally:
        start()
    assert (during.status_code, during.json()["error"]) == (502, "bad_gateway")
    assert waited < 2  # inside the roller's 2 s: cut at 1.5 s + the backstop's 0.2 s when frozen, at once when stopped
    if direct is not None:
        assert (direct.status_code, direct.json()["error"]) == (503, "database_unavailable")
        assert ready.status_code == 503 and stack.die_service.get("/healthz").status_code == 200
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200
    lines = [json.loads(line) for line in stack.die_service.log_lines()[seen:] if '"Database ' in line]
    outage = [(line["level"], line["message"]) for line in lines if "pool" not in line["message"]]
    assert outage == [("ERROR", "Database unavailable"), ("INFO", "Database available again")]


def test_a_database_that_cannot_be_reached_at_start_stops_the_die_service_with_one_line(tmp_path):
    from harness.ports import free_port
    from harness.stack import ServiceProcess
    from ops.services import DIE_SERVICE

    env = {"DATABASE_URL": f"postgresql://dice:secret-pw@127.0.0.1:{free_port()}/dice", "OTEL_SDK_DISABLED": "true"}
    service = ServiceProcess(DIE_SERVICE.entry_point, env, tmp_path, DIE_SERVICE.name)
    service.start(wait=False)
    assert service.process.wait(timeout=20) == 4
    critical = [json.loads(line) for line in service.log_lines() if '"CRITICAL"' in line]
    assert len(critical) == 1 and "cannot be seeded" in critical[0]["message"]
    assert "secret-pw" not in service.log_text() and "Booting worker" not in service.log_text()


def test_a_fresh_die_service_reports_its_dice_and_no_query_yet(tmp_path):
    """die_specifications_loaded from the start; the count that set it is no request's query."""
    from harness.stack import ServiceProcess, Stack
    from ops.services import DIE_SERVICE

    env = {**Stack.BASE_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'dice.sqlite3'}"}
    service = ServiceProcess(DIE_SERVICE.entry_point, env, tmp_path, DIE_SERVICE.name).start()
    try:
        samples = scrape(service)
        assert value(samples, "die_specifications_loaded") == 5  # the shipped file's dice
        assert value(samples, "database_queries_total", query_type="list", result="success") == 0
    finally:
        service.stop()
