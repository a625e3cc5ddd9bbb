"""The die service's spans, in memory: its SERVER span for every row of the contract's API
table, and the query's CLIENT span under it, on both engines."""

import pytest
import sqlalchemy
from falcon import testing
from opentelemetry.trace import SpanKind, StatusCode

from diespec.app import build_app
from harness.ports import free_port
from ops import faults
from ops.faults import FaultInjector
from tests.spans import assert_server_span, exception_events, only_span

FAULTS = FaultInjector("die-service", enabled=True)
DATABASE_FAULTS = FaultInjector(faults.DATABASE, enabled=True, parse=faults.parse_database_fault)


@pytest.fixture
def make_client(instrumented, make_store):
    def make(**store_options):
        return testing.TestClient(build_app(make_store(**store_options), FAULTS, DATABASE_FAULTS))

    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.mark.parametrize(
    "method, path, query, status, name, route, queries",
    [
        ("GET", "/", None, 200, "GET /", "/", 1),
        ("GET", "/dice", None, 200, "GET /dice", "/dice", 1),
        ("GET", "/dice", "identifier=fair", 200, "GET /dice", "/dice", 1),
        ("GET", "/dice", "identifier=loaded", 404, "GET /dice", "/dice", 1),
        ("GET", "/dice", "identifier=bad%24%24", 400, "GET /dice", "/dice", 0),
        ("GET", "/dice", "identifier=", 400, "GET /dice", "/dice", 0),
        ("GET", "/nope", None, 404, "GET", None, 0),
        ("POST", "/dice", None, 405, "POST /dice", "/dice", 0),
        ("GET", "/readyz", None, 200, None, None, 0),
    ],
)
def test_server_span_records_the_status_answered(
    client, span_exporter, method, path, query, status, name, route, queries
):
    response = client.simulate_request(method, path, query_string=query)
    assert response.status_code == status
    spans = span_exporter.get_finished_spans()
    if name is None:  # the probe's query makes no span (nor its request, in the services' set-up)
        assert [span.kind for span in spans] == [SpanKind.SERVER]
        return
    server = only_span(span_exporter)
    assert_server_span(server, name, status, route)
    assert len(spans) == 1 + queries, [span.name for span in spans]


def query_span(span_exporter):
    [span] = [span for span in span_exporter.get_finished_spans() if span.kind is SpanKind.CLIENT]
    return span


def test_the_query_is_a_client_span_under_the_server_span_by_the_database_conventions(
    client, span_exporter, database_url, postgres_server
):
    client.simulate_get("/dice", params={"identifier": "fair"})
    server, query = only_span(span_exporter), query_span(span_exporter)
    assert query.parent.span_id == server.context.span_id and query.context.trace_id == server.context.trace_id
    engine = database_url.split(":")[0]
    assert query.attributes["db.system.name"] == engine
    # Placeholders, never the value: `?` for SQLite, `%(identifier)s` for psycopg.
    assert query.attributes["db.query.text"].startswith("SELECT identifier, faces, error_rate FROM die_specifications")
    assert "fair" not in query.attributes["db.query.text"]
    assert "db.statement" not in query.attributes and "db.system" not in query.attributes
    if engine == "postgresql":
        assert query.attributes["db.namespace"] == "dice"
        assert (query.attributes["server.address"], query.attributes["server.port"]) == ("127.0.0.1",
                                                                                          postgres_server.port)
    else:
        assert query.attributes["db.namespace"].endswith("dice.sqlite3")
    assert query.status.status_code is StatusCode.UNSET
    # Named by its operation and table on both engines, as the conventions ask (not by the
    # database, nor SQLite's path), with the operation alone in db.operation.name.
    assert query.name == "SELECT die_specifications"
    assert (query.attributes["db.operation.name"], query.attributes["db.collection.name"]) == (
        "SELECT", "die_specifications")


def test_found_and_not_found_on_the_server_span(client, span_exporter):
    client.simulate_get("/dice", params={"identifier": "fair"})
    found = only_span(span_exporter).attributes
    span_exporter.clear()
    client.simulate_get("/dice", params={"identifier": "loaded"})
    missing = only_span(span_exporter).attributes
    assert (found["die.identifier"], found["die.found"]) == ("fair", True)
    assert (missing["die.identifier"], missing["die.found"]) == ("loaded", False)


def test_an_invalid_row_is_a_500_its_query_a_success(client, span_exporter, run_sql):
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) VALUES ('warped', '[]', 0)")
    response = client.simulate_get("/dice", params={"identifier": "warped"})
    assert response.status_code == 500 and response.json["error"] == "invalid_die_specification"
    server = only_span(span_exporter)
    assert_server_span(server, "GET /dice", 500, "/dice")
    assert (server.attributes["die.identifier"], server.attributes["die.found"]) == ("warped", True)
    assert query_span(span_exporter).status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_database_down_is_a_503_saying_why_on_the_server_span(make_client, span_exporter, tmp_path, engine):
    """No connection could be had (a file in a folder that does not exist; a port where no
    PostgreSQL listens), so no query ran: the SERVER span's exception event says why."""
    url = {"sqlite": f"sqlite:///{tmp_path / 'no-such-folder' / 'dice.sqlite3'}",
           "postgresql": f"postgresql://dice:secret@127.0.0.1:{free_port()}/dice"}[engine]
    client = make_client(url=url, seeded=False)
    response = client.simulate_get("/dice", params={"identifier": "fair"})
    assert response.status_code == 503 and response.json["error"] == "database_unavailable"
    server = only_span(span_exporter)
    assert_server_span(server, "GET /dice", 503, "/dice")
    [event] = exception_events(server)
    assert event.attributes["exception.type"] == f"{'sqlite3' if engine == 'sqlite' else 'psycopg'}.OperationalError"
    assert "secret" not in event.attributes["exception.message"]
    assert [span.kind for span in span_exporter.get_finished_spans()] == [SpanKind.SERVER]


def test_a_delay_fault_is_spent_inside_the_query(client, span_exporter):
    response = client.simulate_get("/dice", params={"identifier": "fair"},
                                    headers={"baggage": "fault.database=delay:300"})
    assert response.status_code == 200
    server, query = only_span(span_exporter), query_span(span_exporter)
    assert (query.end_time - query.start_time) / 1e9 >= 0.3
    assert "pg_sleep" in query.attributes["db.query.text"] and "0.3" not in query.attributes["db.query.text"]
    [event] = [event for event in server.events if event.name == "fault injected"]
    assert dict(event.attributes) == {"fault.kind": "delay", "fault.value": 300}


def test_an_error_fault_fails_the_query_in_the_database(client, span_exporter):
    response = client.simulate_get("/dice", params={"identifier": "fair"},
                                    headers={"baggage": "fault.database=error:broken"})
    assert response.status_code == 503 and response.json["error"] == "database_unavailable"
    server, query = only_span(span_exporter), query_span(span_exporter)
    assert_server_span(server, "GET /dice", 503, "/dice")
    assert query.status.status_code is StatusCode.ERROR
    assert query.attributes["error.type"] in ("OperationalError", "UndefinedTable")
    assert query.parent.span_id == server.context.span_id


def test_another_engine_of_the_process_keeps_its_spans_as_the_instrumentation_made_them(
        client, span_exporter, tmp_path):
    """The die service names its own failed queries' error.type (diespec/database/telemetry.py),
    on its own engine: not a lab's or a script's engine in the same process."""
    client.simulate_get("/dice", params={"identifier": "fair"})  # the die service's engine at work
    other = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    with pytest.raises(sqlalchemy.exc.OperationalError), other.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT * FROM nothing"))
    other.dispose()
    [failed] = [span for span in span_exporter.get_finished_spans() if span.status.status_code is StatusCode.ERROR]
    assert failed.kind is SpanKind.CLIENT and "error.type" not in failed.attributes


class BrokenStore:
    def get(self, identifier, fault=None):
        raise RuntimeError("the disk went away")


def test_an_unexpected_exception_is_a_500_json_answer_with_an_exception_event(instrumented, span_exporter):
    client = testing.TestClient(build_app(BrokenStore(), FAULTS, DATABASE_FAULTS))
    response = client.simulate_get("/dice", params={"identifier": "fair"})
    assert response.status_code == 500 and response.json["error"] == "internal_error"
    span = only_span(span_exporter)
    assert_server_span(span, "GET /dice", 500, "/dice")
    [event] = exception_events(span)
    assert event.attributes["exception.type"] == "RuntimeError"
