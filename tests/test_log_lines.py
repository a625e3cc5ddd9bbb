"""The JSON line format every service writes (ops/logs.py), in process."""

import json
import logging
import socket

from ops.logs import JsonLineFormatter


def test_djangos_request_objects_are_not_fields():
    """runserver's django.server passes its socket as `request`; django.request the request."""
    with socket.socket() as connection:
        record = logging.LogRecord("django.server", logging.INFO, __file__, 1, '"GET / HTTP/1.1" 200 10', (), None)
        record.request = connection
        record.status_code = 200
        line = json.loads(JsonLineFormatter().format(record))
    assert "request" not in line and line["status_code"] == 200 and line["logger"] == "django.server"
