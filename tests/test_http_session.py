"""A kept-alive connection that the server closes as it is reused is retried once; a refused
connection, a timeout and a broken answer are not (ops/http_session.py)."""

import socket
import threading
import time

import pytest
import requests

from harness.ports import free_port
from ops.http_session import create_session

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class RacingServer:
    """Answers the first request of each connection and keeps it alive; the second request on
    a connection is read and the connection closed without an answer, as gunicorn's keep-alive
    timeout does when a client reuses the connection at that very moment."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self.answered = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection):
        with connection:
            connection.recv(65536)
            self.answered += 1  # before the answer: the client may ask the count as soon as it has it
            connection.sendall(OK)
            connection.recv(65536)  # the reuse: read, then closed unanswered

    def close(self):
        self._listener.close()


@pytest.fixture
def racing():
    server = RacingServer()
    yield server
    server.close()


def test_a_get_on_a_kept_alive_connection_closed_unanswered_is_sent_again_on_a_fresh_one(racing):
    session = create_session()
    assert session.get(racing.url, timeout=2).status_code == 200
    assert session.get(racing.url, timeout=2).status_code == 200  # it would be a ConnectionError
    assert (racing.connections, racing.answered) == (2, 2)


def test_without_the_retry_the_race_is_a_connection_error(racing):
    """The race is real: a plain session fails the second call, with the server up."""
    session = requests.Session()
    assert session.get(racing.url, timeout=2).status_code == 200
    with pytest.raises(requests.ConnectionError):
        session.get(racing.url, timeout=2)


def test_a_refused_connection_fails_at_once():
    session = create_session()
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        session.get(f"http://127.0.0.1:{free_port()}/", timeout=2)
    assert time.monotonic() - started < 0.5


def test_a_timeout_is_not_sent_again():
    """A server that accepts and never answers: one timeout, not two."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            create_session().get(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.3)
        assert time.monotonic() - started < 0.55 and len(accepted) == 1
    finally:
        listener.close()
