"""gunicorn's access line: the six fields read straight from the request are the values
gunicorn's own `atoms` would give."""

import logging
from datetime import timedelta

import pytest
from gunicorn.config import Config

from ops.gunicorn_logger import JsonLogger


class Response:
    def __init__(self, status):
        self.status, self.headers, self.sent = status, [("Content-Type", "application/json")], 30


class Request:
    headers = [("HOST", "127.0.0.1:8000"), ("USER-AGENT", "python-requests/2.34.2")]


@pytest.fixture
def access_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = Config()
    config.set("accesslog", "-")  # as ops/gunicorn.conf.py
    yield JsonLogger(config)
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.parametrize("status", ["200 OK", "503 Service Unavailable", 404])
@pytest.mark.parametrize("user_agent", ["python-requests/2.34.2", None])
def test_access_fields_are_gunicorns_own_values(access_logger, caplog, status, user_agent):
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/roll?die=fair", "PATH_INFO": "/roll", "QUERY_STRING": "die=fair",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    if user_agent:
        environ["HTTP_USER_AGENT"] = user_agent
    took = timedelta(seconds=1, microseconds=8786)
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        access_logger.access(Response(status), Request(), environ, took)

    [record] = [record for record in caplog.records if record.name == "gunicorn.access"]
    atoms = access_logger.atoms(Response(status), Request(), environ, took)
    assert record.getMessage() == f"{atoms['m']} {atoms['U']} {atoms['s']}"
    assert (record.method, record.path, record.status_code, record.duration_ms, record.remote_addr,
            record.user_agent) == (atoms["m"], atoms["U"], int(atoms["s"]), atoms["D"] / 1000, atoms["h"], atoms["a"])
    assert record.duration_ms == 1008.786 and record.user_agent == (user_agent or "-")
