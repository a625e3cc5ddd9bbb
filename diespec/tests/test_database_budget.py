"""Every read within its one budget, its failure named for where the time went: in process, on
a real PostgreSQL and SQLite, with the default DATABASE_TIMEOUT_SECONDS (1.5 s)."""

import collections
import contextlib
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from falcon import testing
from prometheus_client import REGISTRY
from sqlalchemy import event

from diespec.app import build_app
from diespec.database import Database, DatabaseBusy, DatabaseUnavailable, create_pooled_engine
from ops import faults
from ops.faults import Fault, FaultInjector
from ops.settings import DATABASE_BACKSTOP_GRACE_SECONDS, SETTINGS
from tests.helpers import poll_until

FAULTS = FaultInjector("die-service", enabled=True)
DATABASE_FAULTS = FaultInjector(faults.DATABASE, enabled=True, parse=faults.parse_database_fault)
BUDGET = SETTINGS["DATABASE_TIMEOUT_SECONDS"].read({})
BUSY, UNAVAILABLE, OK = (503, "database_busy"), (503, "database_unavailable"), (200, None)


def counters():
    """The die service's database counters now, by what each counts."""
    def sample(name, **labels):
        found = REGISTRY.get_sample_value(name, labels)
        assert found is not None, f"{name} {labels} is not registered"
        return found

    return collections.Counter({
        OK: sample("database_queries_total", query_type="get", result="success"),
        UNAVAILABLE: sample("database_queries_total", query_type="get", result="error"),
        BUSY: sample("database_connection_pool_timeouts_total"),
        "waits": sample("database_connection_pool_wait_seconds_count"),
        "waited": sample("database_connection_pool_wait_seconds_sum"),
    })


def all_at_once(client, count, baggage):
    """`count` requests for the fair die, let go together however slowly a busy machine starts
    the threads; each answer's (status, error code)."""
    together = threading.Barrier(count)

    def ask(_):
        together.wait(timeout=30)
        answer = client.simulate_get("/dice", params={"identifier": "fair"}, headers={"baggage": baggage})
        return answer.status_code, (answer.json or {}).get("error")

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(ask, range(count)))


@pytest.mark.parametrize("database_url, pool_size, requests, delay_ms", [
    ("postgresql", 2, 40, 800),
    ("sqlite", 1, 8, 600),
], indirect=["database_url"])
def test_a_busy_pool_is_busy_never_an_outage(instrumented, make_store, caplog, pool_size, requests, delay_ms):
    """More requests than connections, each query long but well within the budget, on a healthy
    database: every answer 200 or database_busy, in each of five runs (five die-service workers
    at once, each with its pool). Those that got a connection late and timed out in their query,
    left too little, are busy too: a third of their budget or more went on waiting for the pool.
    Each answer is counted once, where it says."""
    clients = [testing.TestClient(build_app(make_store(pool_size=pool_size, timeout=BUDGET), FAULTS, DATABASE_FAULTS))
               for _ in range(5)]
    before = counters()
    with caplog.at_level(logging.INFO), ThreadPoolExecutor(len(clients)) as runs:
        endings = list(runs.map(lambda client: all_at_once(client, requests, f"fault.database=delay:{delay_ms}"),
                                clients))
    for run in endings:
        assert set(run) == {OK, BUSY}, collections.Counter(run)
    answered = collections.Counter(outcome for run in endings for outcome in run)
    counted = counters()
    counted.subtract(before)
    assert {key: counted[key] for key in (OK, UNAVAILABLE, BUSY, "waits")} == {
        OK: answered[OK], UNAVAILABLE: 0, BUSY: answered[BUSY], "waits": len(clients) * requests}
    messages = [record.getMessage() for record in caplog.records]
    assert "Database unavailable" not in messages
    assert messages.count("No database connection free") == answered[BUSY]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_connections_lost_under_load_end_every_read_within_the_budget_and_its_grace(make_store, postgres_server):
    """30 reads at a time (each query 400 ms) wait for a pool of 10 while every connection of it
    is lost twice: its server processes ended (the server up: the reads waiting take the pool's
    places meanwhile), then PostgreSQL restarted. A read that loses its connection tries once
    more, in the place it had in the pool and within what is left of its budget: none ends later
    than the budget plus the backstop's grace, so the die service answers before the roller's
    2 s (DIE_SERVICE_TIMEOUT_SECONDS) run out. (The store's reads, not requests: 30 threads of
    in-process HTTP and spans on a shared machine would time the machine, not the read.)"""
    store = make_store(pool_size=10, timeout=BUDGET)
    endings, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            started = time.monotonic()
            try:
                store.get("fair", Fault("delay", 400))
                outcome = OK
            except DatabaseBusy:
                outcome = BUSY
            except DatabaseUnavailable:
                outcome = UNAVAILABLE
            endings.append((outcome, time.monotonic() - started))

    def answered_since(count):
        return [outcome for outcome, _ in endings[count:]].count(OK)

    threads = [threading.Thread(target=load) for _ in range(30)]
    for thread in threads:
        thread.start()
    try:
        assert poll_until(lambda: answered_since(0) >= 30, timeout=10)  # the pool full, and waited for
        postgres_server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        ended = len(endings)
        assert poll_until(lambda: answered_since(ended) >= 30, timeout=10)
        postgres_server.pg_ctl_stop()
        postgres_server.pg_ctl_start()
        restarted = len(endings)
        assert poll_until(lambda: answered_since(restarted) >= 30, timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    outcomes = collections.Counter(outcome for outcome, _ in endings)
    assert outcomes[UNAVAILABLE] >= 1, outcomes  # it was down
    slowest = sorted(seconds for _, seconds in endings)[-5:]
    assert slowest[-1] < BUDGET + DATABASE_BACKSTOP_GRACE_SECONDS, slowest


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_read_that_loses_its_connection_tries_again_in_its_place(make_store, postgres_server):
    """A pool of one: A holds it for 0.7 s; B waits for it, then C, half a second later, each to
    run a query longer than its budget. Whoever gets it after A loses it in its query (its
    server process ended) and tries once more at once, in its place: not after the other's
    query, past its own budget. Three such pools at once: which of B and C takes a connection
    given back first is the threads' race."""

    def three_reads(tag):
        database = make_store(pool_size=1, timeout=BUDGET)._database
        first, then = f"SELECT pg_sleep(0.7) AS {tag}", f"SELECT pg_sleep(5) AS {tag}"  # found by their text

        def timed_read(query):
            started = time.monotonic()
            with contextlib.suppress(DatabaseBusy, DatabaseUnavailable):
                database.read(query)
            return time.monotonic() - started

        def server_processes(query, do="pid"):
            """What `do` gives for each server process running `query` now ("t" for each ended)."""
            return postgres_server.psql(
                f"SELECT {do} FROM pg_stat_activity WHERE query = '{query}' AND state = 'active'")

        with ThreadPoolExecutor(3) as pool:
            a = pool.submit(timed_read, first)
            assert poll_until(lambda: server_processes(first), timeout=5)
            b = pool.submit(timed_read, then)
            time.sleep(0.5)  # C's budget ends half a second after B's
            c = pool.submit(timed_read, then)
            assert poll_until(lambda: server_processes(then, do="pg_terminate_backend(pid)") == "t", timeout=5)
            return [read.result() for read in (a, b, c)]

    with ThreadPoolExecutor(3) as pools:
        seconds = list(pools.map(three_reads, ["first", "second", "third"]))
    assert max(max(reads) for reads in seconds) < BUDGET + DATABASE_BACKSTOP_GRACE_SECONDS, seconds


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_held_sqlite_write_lock_ends_each_read_within_its_budget(make_store, database_url):
    """A writer holds SQLite's lock longer than the budget. A waits for it its whole budget; B,
    half a second later, waits for A's connection, then for the lock only what is left: not a
    whole busy timeout more. Both are the database timing out (no read was answered: no busy pool)."""
    store = make_store(pool_size=1, timeout=BUDGET)
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)

    def timed_read():
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as failed:
            store.get("fair")
        return (failed.value.kind, failed.value.reason), time.monotonic() - started

    try:
        writer.execute("BEGIN EXCLUSIVE")
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(timed_read)
            time.sleep(0.5)  # B's budget ends half a second after A's
            b = pool.submit(timed_read)
            endings = [a.result(), b.result()]
    finally:
        writer.close()
    assert [outcome for outcome, _ in endings] == [("timed out", "database is locked")] * 2
    assert max(seconds for _, seconds in endings) < BUDGET + DATABASE_BACKSTOP_GRACE_SECONDS, endings
    assert store.get("fair").identifier == "fair"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_long_sqlite_query_is_stopped_at_the_deadline(make_store):
    """SQLite's statement timeout, which it has not: the read's own deadline (a progress handler)."""
    store = make_store(pool_size=1, timeout=BUDGET)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as failed:  # some seconds of counting, on this machine
        store._database.read("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000000) "
                             "SELECT count(*) FROM n")
    assert time.monotonic() - started < BUDGET + DATABASE_BACKSTOP_GRACE_SECONDS
    assert (failed.value.kind, failed.value.reason) == (
        "timed out", f"no answer within {BUDGET:g} s (DATABASE_TIMEOUT_SECONDS): the query was stopped")
    assert store.get("fair").identifier == "fair"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_wait_for_the_pool_is_timed_alone(database_url, run_sql):
    """database_connection_pool_wait_seconds: the wait for a place in the pool, not connecting
    (slowed here by 300 ms), nor on PostgreSQL a first attempt's query on a connection lost."""
    engine = create_pooled_engine(database_url, 1, BUDGET)
    event.listen(engine, "do_connect", lambda *args: time.sleep(0.3))  # then the usual connect
    database = Database(engine, BUDGET)
    try:
        before = counters()
        assert database.read("SELECT 1") == [(1,)]
        if database.engine_name == "postgresql":  # the pooled connection's server process ended
            run_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            assert database.read("SELECT 1") == [(1,)]  # a retry, on a new connection
        counted = counters()
        counted.subtract(before)
        reads = 2 if database.engine_name == "postgresql" else 1
        assert counted["waits"] == reads and counted["waited"] < 0.1, counted
    finally:
        database.close()
