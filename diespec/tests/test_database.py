"""The die service over its database, in process, on SQLite and on a real PostgreSQL."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from falcon import testing
from prometheus_client import REGISTRY

from diespec.app import build_app
from diespec.database import create_unpooled_engine
from diespec.seed import seed
from diespec.specs import parse_specifications
from diespec.tests.conftest import SPECIFICATIONS, TIMEOUT_SECONDS
from ops import faults
from ops.faults import Fault, FaultInjector
from tests.helpers import poll_until

FAULTS = FaultInjector("die-service", enabled=True)
DATABASE_FAULTS = FaultInjector(faults.DATABASE, enabled=True, parse=faults.parse_database_fault)


def client_of(store):
    return testing.TestClient(build_app(store, FAULTS, DATABASE_FAULTS))


def metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_die_inserted_with_sql_is_served_at_its_next_request(store, run_sql):
    client = client_of(store)
    assert client.simulate_get("/dice", params={"identifier": "d4"}).status_code == 404
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) VALUES ('d4', '[1, 2, 2, 4]', 0.25)")
    answer = client.simulate_get("/dice", params={"identifier": "d4"})
    assert answer.json == {"identifier": "d4", "faces": [1, 2, 2, 4], "error_rate": 0.25}
    assert "d4" in client.simulate_get("/dice").json["identifiers"]


@pytest.mark.parametrize(
    "faces, error_rate",
    [("[]", 0), ("[1, 2.5]", 0), ("[1, true]", 0), ("not json", 0), (None, 0), ('"123"', 0),
     ("[1, 2]", 1.5), ("[1, 2]", -0.25), ("[1, 2]", None)],
)
def test_a_row_that_breaks_the_die_contract_is_never_rolled(store, run_sql, caplog, faces, error_rate):
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) VALUES ('warped', :faces, :error_rate)",
            faces=faces, error_rate=error_rate)
    client = client_of(store)
    with caplog.at_level(logging.INFO):
        answer = client.simulate_get("/dice", params={"identifier": "warped"})
    assert answer.status_code == 500 and answer.json["error"] == "invalid_die_specification"
    for value in (faces or "", str(error_rate), "2.5", "true"):
        assert value not in answer.json["message"] or value == ""
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [(record.getMessage(), record.identifier) for record in errors] == [
        ("Invalid die specification in the database", "warped")
    ]
    assert client.simulate_get("/dice").json["identifiers"] == ["fair", "risky", "warped"]
    assert client.simulate_get("/dice", params={"identifier": "fair"}).status_code == 200


def test_seeding_upserts_the_file_and_keeps_other_rows(store, database_url, run_sql):
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) VALUES ('d4', '[1, 2, 3, 4]', 0)")
    edited = {**SPECIFICATIONS, "fair": {"faces": [1, 1, 6], "error_rate": 0.5}}
    engine = create_unpooled_engine(database_url, TIMEOUT_SECONDS)
    seed(engine, parse_specifications(edited), "edited.json")
    seed(engine, parse_specifications(edited), "edited.json")  # again: nothing doubles
    engine.dispose()
    client = client_of(store)
    assert client.simulate_get("/dice").json["identifiers"] == ["fair", "risky", "d4"]
    assert client.simulate_get("/dice", params={"identifier": "fair"}).json["faces"] == [1, 1, 6]


def test_queries_are_counted_and_timed_by_type_and_result(instrumented, store):
    client = client_of(store)
    before = {
        key: metric("database_queries_total", query_type=key[0], result=key[1])
        for key in [("get", "success"), ("list", "success"), ("get", "error")]
    }
    timed_before = metric("database_query_duration_seconds_count", query_type="get")
    client.simulate_get("/dice", params={"identifier": "fair"})
    client.simulate_get("/dice", params={"identifier": "nope"})  # a query that found nothing still succeeded
    client.simulate_get("/dice")
    client.simulate_get("/dice", params={"identifier": "fair"}, headers={"baggage": "fault.database=error:x"})
    assert metric("database_queries_total", query_type="get", result="success") == before["get", "success"] + 2
    assert metric("database_queries_total", query_type="list", result="success") == before["list", "success"] + 1
    assert metric("database_queries_total", query_type="get", result="error") == before["get", "error"] + 1
    assert metric("database_query_duration_seconds_count", query_type="get") == timed_before + 3


def test_the_pool_reports_its_size_and_what_it_has_free(store):
    client = client_of(store)
    client.simulate_get("/dice", params={"identifier": "fair"})
    assert metric("database_connection_pool_size") == 2
    assert metric("database_connection_pool_available") == 2  # given back after the query
    with ThreadPoolExecutor(1) as other:  # a request in flight holds one
        slow = other.submit(store.get, "fair", Fault("delay", 400))
        assert poll_until(lambda: metric("database_connection_pool_available") == 1, timeout=0.4)
        assert slow.result().identifier == "fair"
    assert metric("database_connection_pool_available") == 2


def test_a_delay_fault_makes_the_query_wait(store):
    started = time.perf_counter()
    assert store.get("fair", Fault("delay", 200)).identifier == "fair"
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    assert store.get("nope", Fault("delay", 200)) is None  # waits even when no row matches
    assert time.perf_counter() - started >= 0.2


def test_a_delay_past_the_timeout_is_cut_by_it(instrumented, store):
    started = time.perf_counter()
    answer = client_of(store).simulate_get("/dice", params={"identifier": "fair"},
                                          headers={"baggage": "fault.database=delay:5000"})
    assert answer.status_code == 503 and answer.json["error"] == "database_unavailable"
    assert time.perf_counter() - started < TIMEOUT_SECONDS + 1


def test_an_error_fault_is_no_outage(instrumented, store, caplog):
    with caplog.at_level(logging.INFO):
        answer = client_of(store).simulate_get("/dice", params={"identifier": "fair"},
                                              headers={"baggage": "fault.database=error:oops"})
    assert answer.status_code == 503
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO] == ["Fault injected"]


def outage_lines(caplog):
    return [(record.levelname, record.getMessage()) for record in caplog.records
            if record.getMessage().startswith("Database ")]


def test_sqlite_that_cannot_be_opened_is_an_outage_and_its_end_is_said_once(make_store, tmp_path, caplog):
    folder = tmp_path / "later"
    url = f"sqlite:///{folder / 'dice.sqlite3'}"
    client = client_of(make_store(url=url, seeded=False))
    with caplog.at_level(logging.INFO):
        answers = [client.simulate_get("/dice", params={"identifier": "fair"}) for _ in range(3)]
        ready = client.simulate_get("/readyz")
        folder.mkdir()
        engine = create_unpooled_engine(url, TIMEOUT_SECONDS)
        seed(engine, parse_specifications(SPECIFICATIONS), "test")
        engine.dispose()
        back = [client.simulate_get("/dice", params={"identifier": "fair"}) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [503] * 3 and ready.status_code == 503
    assert ready.json == {"error": "not_ready",
                          "message": "The database could not answer (cannot open the file); try again."}
    assert [answer.status_code for answer in back] == [200, 200]
    assert outage_lines(caplog) == [("ERROR", "Database unavailable"), ("INFO", "Database available again")]
    assert client.simulate_get("/healthz").status_code == 200
