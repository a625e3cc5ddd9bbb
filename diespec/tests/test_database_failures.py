"""How the die service's reads fail, in process, on a real PostgreSQL and SQLite: slow queries end
by the server's statement timeout with the pool kept, a frozen database is an outage (a busy
pool is not: test_database_budget.py), the backstop is keyed by the query and stops with the
store, each failure is named alike everywhere, and die services seeding at once all start."""

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from falcon import testing
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from sqlalchemy import event

from diespec.app import build_app
from diespec.database import SEED_LOCK, DatabaseBusy, DatabaseUnavailable
from diespec.database.deadline import Backstop, Budget
from diespec.seed import seed_from_settings
from harness.processes import is_stopped
from ops import faults
from ops.faults import Fault, FaultInjector
from ops.settings import DATABASE_BACKSTOP_GRACE_SECONDS, SETTINGS
from runtime import REPO
from tests.helpers import poll_until

FAULTS = FaultInjector("die-service", enabled=True)
DATABASE_FAULTS = FaultInjector(faults.DATABASE, enabled=True, parse=faults.parse_database_fault)
DEFAULT_TIMEOUT = SETTINGS["DATABASE_TIMEOUT_SECONDS"].read({})


def metric(name):
    found = REGISTRY.get_sample_value(name)
    assert found is not None, f"{name} is not registered"
    return found


# make_store's database: the run's PostgreSQL, or a SQLite file (diespec/tests/conftest.py).
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@ON_POSTGRESQL
def test_forty_slow_queries_all_end_by_the_statement_timeout_with_the_pool_kept(make_store, database_url, caplog):
    store = make_store(url=database_url, pool_size=40, timeout=DEFAULT_TIMEOUT)
    with ThreadPoolExecutor(40) as pool:  # every connection of the pool made first
        list(pool.map(lambda _: store.get("fair", Fault("delay", 50)), range(40)))
    invalidated = []
    event.listen(store._database.engine, "invalidate", lambda *args: invalidated.append(1))

    def slow_read(_):
        started = time.monotonic()
        try:
            store.get("fair", Fault("delay", 3000))
        except DatabaseUnavailable as error:
            return error.kind, error.reason, error.error_type, time.monotonic() - started
        return None

    with caplog.at_level(logging.INFO), ThreadPoolExecutor(40) as pool:
        endings = list(pool.map(slow_read, range(40)))
    assert {ending[:3] for ending in endings} == {
        ("timed out", "canceling statement due to statement timeout", "timeout")}
    assert all(DEFAULT_TIMEOUT - 0.1 <= ending[3] < DEFAULT_TIMEOUT + DATABASE_BACKSTOP_GRACE_SECONDS
               for ending in endings), [ending[3] for ending in endings]
    assert store.get("fair").identifier == "fair"
    assert invalidated == []  # not one connection cut or dropped: the pool is as it was
    assert metric("database_connection_pool_available") == 40


@ON_POSTGRESQL
def test_a_read_that_finds_every_connection_hung_is_an_outage_not_busy(make_store, database_url, postgres_server):
    """Frozen: the requests waiting for a connection see no read answered meanwhile."""
    store = make_store(url=database_url, pool_size=1, timeout=0.5)
    store.get("fair")
    timeouts_before = metric("database_connection_pool_timeouts_total")
    postgres_server.pause()
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(store.get, "fair")
            time.sleep(0.05)
            second = pool.submit(store.get, "fair")
            for read in (first, second):
                with pytest.raises(DatabaseUnavailable) as failed:
                    read.result()
                assert failed.value.kind == "timed out"
    finally:
        postgres_server.resume()
    assert store.get("fair").identifier == "fair"
    # The pool timeout counter counts database_busy answers alone: these were an outage.
    assert metric("database_connection_pool_timeouts_total") == timeouts_before


@ON_POSTGRESQL
def test_a_cut_costs_the_one_connection_it_cut(make_store, database_url, postgres_server):
    """The server process under one query stopped (SIGSTOP: no statement timeout can end it):
    the backstop cuts that query's connection, and the pool's other connections stay, the same
    server processes before and after."""
    database = make_store(url=database_url, pool_size=3, timeout=DEFAULT_TIMEOUT)._database

    def server_processes():
        """The pids behind the pool's three connections: three reads at once, each holding one."""
        with ThreadPoolExecutor(3) as pool:
            return {rows[0][0] for rows in pool.map(
                lambda _: database.read("SELECT pg_backend_pid(), pg_sleep(0.3)"), range(3))}

    before = server_processes()
    assert len(before) == 3
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(database.read, "SELECT pg_sleep(5)")
        assert poll_until(lambda: postgres_server.psql(
            "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'"), timeout=5)
        pid = int(postgres_server.psql("SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)'"))
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(DatabaseUnavailable) as failed:
                stuck.result()
        finally:
            os.kill(pid, signal.SIGCONT)
    assert (failed.value.kind, failed.value.reason) == (
        "timed out", f"no answer within {DEFAULT_TIMEOUT:g} s (DATABASE_TIMEOUT_SECONDS): the connection was cut")
    after = server_processes()
    assert len(after & before) == 2 and pid not in after, (before, after, pid)


def test_the_backstop_cuts_only_the_query_it_watches_and_stops_with_its_thread():
    backstop = Backstop()
    left, right = socket.socketpair(), socket.socketpair()
    spent, later = Budget(-DATABASE_BACKSTOP_GRACE_SECONDS), Budget(60)
    try:
        with backstop.watch(FakeConnection(left[0]), spent):
            # Cut: the other end reads the end of the stream, and the read knows who cut it.
            assert poll_until(lambda: left[1].recv(1) == b"", timeout=3.0)
            assert spent.ended_by == "the connection was cut"
        with backstop.watch(FakeConnection(right[0]), later):
            right[1].sendall(b"x")
            assert right[0].recv(1) == b"x"  # still open: another query's deadline is not this one's
            assert later.ended_by is None
    finally:
        for sock in (*left, *right):
            sock.close()
    thread = backstop._thread
    backstop.stop()
    assert not thread.is_alive()


@ON_POSTGRESQL
def test_the_store_stops_its_backstop_when_closed(make_store, database_url):
    before = {thread.name for thread in threading.enumerate()}
    store = make_store(url=database_url)
    store.get("fair")
    assert "database-backstop" in {thread.name for thread in threading.enumerate()} - before
    store._database.close()
    assert poll_until(lambda: "database-backstop" not in {t.name for t in threading.enumerate()} - before,
                      timeout=3.0)


@ON_POSTGRESQL
def test_an_unknown_database_is_named_as_such_and_not_by_its_user_or_host(make_store, database_url):
    url = database_url.rsplit("/", 1)[0] + "/no_such_dice"
    client = testing.TestClient(build_app(make_store(url=url, seeded=False), FAULTS, DATABASE_FAULTS))
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert ready.json["message"] == "The database could not answer (no such database); try again."


def test_a_dropped_table_is_said_alike_by_the_answer_readyz_the_log_and_the_span(
        instrumented, span_exporter, store, run_sql, caplog):
    """One classification (diespec/database/failures.py): PostgreSQL's 42P01, SQLite's "no such
    table", never "no such database" nor "failed"."""
    client = testing.TestClient(build_app(store, FAULTS, DATABASE_FAULTS))
    assert client.simulate_get("/dice", params={"identifier": "fair"}).status_code == 200
    run_sql("DROP TABLE die_specifications")
    span_exporter.clear()
    with caplog.at_level(logging.INFO):
        answer = client.simulate_get("/dice", params={"identifier": "fair"})
        ready = client.simulate_get("/readyz")
    said = "The database could not answer (no such table); try again."
    assert (answer.status_code, answer.json) == (503, {"error": "database_unavailable", "message": said})
    assert (ready.status_code, ready.json["message"]) == (503, said)
    [went] = [record for record in caplog.records if record.getMessage() == "Database unavailable"]
    [query] = [span for span in span_exporter.get_finished_spans() if span.kind is SpanKind.CLIENT]
    expected_type = {"postgresql": "UndefinedTable", "sqlite": "OperationalError"}[store.engine_name]
    assert (went.kind, went.error_type, query.attributes["error.type"]) == ("no such table", expected_type,
                                                                            expected_type)
    assert query.attributes.get("db.response.status_code") == ("42P01" if store.engine_name == "postgresql" else None)


@ON_POSTGRESQL
def test_a_database_shutting_down_is_said_so_by_the_log_and_readyz_alike(make_store, database_url, postgres_server,
                                                                          caplog):
    """A smart shutdown waits for the sessions open; meanwhile PostgreSQL refuses new ones as
    "shutting down" (libpq's words: psycopg has no SQLSTATE when connecting fails)."""
    client = testing.TestClient(build_app(make_store(url=database_url), FAULTS, DATABASE_FAULTS))  # no connection yet
    with psycopg.connect(postgres_server.url):  # a session the shutdown waits for
        postgres_server.begin_smart_shutdown()
        try:
            with caplog.at_level(logging.INFO):
                answer = client.simulate_get("/dice", params={"identifier": "fair"})
                ready = client.simulate_get("/readyz")
        finally:
            postgres_server.pg_ctl_stop()  # at once, then back
            postgres_server.pg_ctl_start()
    said = "The database could not answer (shutting down); try again."
    assert (answer.status_code, answer.json["message"], ready.json["message"]) == (503, said, said)
    [went] = [record for record in caplog.records if record.getMessage() == "Database unavailable"]
    assert went.kind == "shutting down"
    assert client.simulate_get("/dice", params={"identifier": "fair"}).status_code == 200


@ON_POSTGRESQL
def test_a_die_service_waiting_longer_than_the_budget_for_anothers_seeding_starts(make_store, database_url,
                                                                                   monkeypatch):
    """Seeding's lock wait is on seeding's own clock, not DATABASE_TIMEOUT_SECONDS: gunicorn's
    master seeds with seed_from_settings, and exits 4 (SystemExit) when it cannot."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url) as other:  # another die service, seeding slowly
        other.execute(SEED_LOCK.text)  # held until its transaction ends
        ends = threading.Timer(DEFAULT_TIMEOUT + 0.5, other.rollback)
        ends.start()
        started = time.monotonic()
        seed_from_settings()
        waited = time.monotonic() - started
        ends.join()
    assert waited > DEFAULT_TIMEOUT
    assert make_store(url=database_url, seeded=False).get("fair").identifier == "fair"  # seeded


@pytest.mark.slow
def test_four_die_services_seeding_at_once_all_start(postgres_server):
    """Three rounds of four seeders on a fresh database each: every one succeeds, one table."""
    for _ in range(3):
        url = postgres_server.create_database(f"seeding_{uuid.uuid4().hex[:12]}")
        env = {**os.environ, "DATABASE_URL": url}
        seeders = [subprocess.Popen([sys.executable, "-c", "from diespec.seed import seed_from_settings as s; s()"],
                                    cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                   for _ in range(4)]
        outputs = [seeder.communicate(timeout=60)[0].decode() for seeder in seeders]
        assert [seeder.returncode for seeder in seeders] == [0, 0, 0, 0], outputs
        assert postgres_server.psql("SELECT count(*) FROM die_specifications", database=url.rsplit("/", 1)[1]) == "5"


def test_a_backend_gone_between_pgrep_and_kill_leaves_the_server_frozen_and_resumed(postgres_server, monkeypatch):
    pids = postgres_server._server_pids()
    monkeypatch.setattr(postgres_server, "_server_pids", lambda: [*pids, 2 ** 22 + 1])  # a pid no process has
    postgres_server.pause()
    try:  # a signal is delivered when the process is next scheduled, not by kill() itself
        assert poll_until(lambda: is_stopped(postgres_server.postmaster_pid()), timeout=3.0)
    finally:
        postgres_server.resume()
    assert poll_until(lambda: not is_stopped(postgres_server.postmaster_pid()), timeout=3.0)


class FakeConnection:
    """What Backstop.watch reads of a SQLAlchemy connection: psycopg's pgconn and its socket."""

    def __init__(self, sock):
        pgconn = type("PGconn", (), {"socket": sock.fileno()})()
        dbapi = type("DBAPIConnection", (), {"pgconn": pgconn})()
        self.connection = type("Proxied", (), {"dbapi_connection": dbapi})()


def test_database_busy_says_how_long_it_waited():
    assert str(DatabaseBusy(10, 1.5)) == "waited 1.50 s of its budget for one of 10 connections"
