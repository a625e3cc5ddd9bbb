"""PostgreSQL stopped and frozen under a die service in process: 503 within the timeout,
/readyz 503 meanwhile, one line per outage, and rolls again when it is back, nothing restarted."""

import logging
import time

import pytest
from falcon import testing

from diespec.app import build_app
from diespec.tests.conftest import TIMEOUT_SECONDS
from ops import faults
from ops.faults import FaultInjector
from ops.settings import DATABASE_BACKSTOP_GRACE_SECONDS

FAULTS = FaultInjector("die-service", enabled=True)
DATABASE_FAULTS = FaultInjector(faults.DATABASE, enabled=True, parse=faults.parse_database_fault)


@pytest.fixture
def database_url(postgres_server):
    postgres_server.psql("DROP TABLE IF EXISTS die_specifications")
    return postgres_server.url


def timed_get(client, path, **kwargs):
    started = time.perf_counter()
    answer = client.simulate_get(path, **kwargs)
    return answer, time.perf_counter() - started


def outage_lines(caplog):
    return [(record.levelname, record.getMessage()) for record in caplog.records
            if record.getMessage().startswith("Database ")]


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_an_outage_is_a_503_within_the_timeout_and_recovers_by_itself(store, postgres_server, caplog, outage):
    client = testing.TestClient(build_app(store, FAULTS, DATABASE_FAULTS))
    assert client.simulate_get("/dice", params={"identifier": "fair"}).status_code == 200  # a pooled connection
    stop, start = {
        "stopped": (postgres_server.pg_ctl_stop, postgres_server.pg_ctl_start),
        "frozen": (postgres_server.pause, postgres_server.resume),
    }[outage]
    with caplog.at_level(logging.INFO):
        stop()
        try:
            # Frozen, the first query's pooled connection is cut by the backstop and the second
            # gives up connecting when its budget ends: two are enough to see both.
            during = [timed_get(client, "/dice", params={"identifier": "fair"}) for _ in range(2)]
            ready, _ = timed_get(client, "/readyz") if outage == "stopped" else (None, 0)
        finally:
            start()
        back, _ = timed_get(client, "/dice", params={"identifier": "fair"})
    for answer, seconds in during:
        assert answer.status_code == 503 and answer.json["error"] == "database_unavailable"
        assert seconds < TIMEOUT_SECONDS + DATABASE_BACKSTOP_GRACE_SECONDS + 0.3
    assert ready is None or ready.status_code == 503
    assert back.status_code == 200
    assert outage_lines(caplog) == [("ERROR", "Database unavailable"), ("INFO", "Database available again")]
    [went] = [record for record in caplog.records if record.getMessage() == "Database unavailable"]
    if outage == "frozen":  # the backstop's cut, said as what it is, not as a closed connection
        assert went.reason.startswith(f"no answer within {TIMEOUT_SECONDS:g} s")
