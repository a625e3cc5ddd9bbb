"""make run's receivers take what its services and a learner's exporters send, and refuse what
no client of theirs sends (runtime/backends/http.py): a body past the limit, as sent or once
decompressed (413), a Host that is not loopback (DNS rebinding) and a web page's cross-origin
POST (403). Nothing a web page opened in the learner's browser can do writes into make run."""

import gzip
import http.client
import socket
import struct
import threading
import tracemalloc

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from backend_apis.pyroscope import PUSH_PATH
from runtime.backends.http import MAX_BODY_BYTES, LoopbackHandler, LoopbackServer
from runtime.backends.otlp import OtlpReceiver
from runtime.backends.profiles import ProfileStore
from runtime.backends.pyroscope import PyroscopeApi
from runtime.backends.tempo import TempoApi, TraceStore

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def receiver():
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


def export(receiver, body=None, **headers):
    body = ExportTraceServiceRequest().SerializeToString() if body is None else body
    return requests.post(f"{receiver.endpoint}/v1/traces", data=body, headers={**PROTOBUF, **headers}, timeout=10)


def test_an_exporter_is_answered(receiver):
    assert export(receiver).status_code == 200
    assert export(receiver, gzip.compress(ExportTraceServiceRequest().SerializeToString()),
                  **{"Content-Encoding": "gzip"}).status_code == 200


@pytest.mark.parametrize("host", ["localhost:4318", "127.0.0.1:4318", "[::1]:4318", "127.0.0.1"])
def test_a_loopback_host_is_answered(receiver, host):
    assert export(receiver, Host=host).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example:4318", "192.168.1.20:4318", "localhost.attacker.example"])
def test_a_foreign_host_is_refused_as_dns_rebinding(receiver, host):
    answer = export(receiver, Host=host)
    assert answer.status_code == 403 and "loopback" in answer.text
    assert requests.get(f"{receiver.endpoint}/", headers={"Host": host}, timeout=5).status_code == 403


@pytest.mark.parametrize("origin", ["https://attacker.example", "null", "http://127.0.0.1:8105"])
def test_a_web_pages_cross_origin_post_is_refused(receiver, origin):
    answer = export(receiver, Origin=origin)
    assert answer.status_code == 403 and "origin" in answer.text


def test_its_own_origin_may_post(receiver):
    assert export(receiver, Origin=receiver.url).status_code == 200


def test_a_body_past_the_limit_is_refused_before_it_is_read(receiver):
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    connection.putrequest("POST", "/v1/traces")
    connection.putheader("Content-Type", "application/x-protobuf")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()  # and not one byte of the body: the answer comes anyway
    assert connection.getresponse().status == 413
    connection.close()


def test_a_gzip_bomb_is_refused_and_never_inflated_whole(receiver):
    bomb = gzip.compress(bytes(4 * MAX_BODY_BYTES))  # 64 MiB of zeros in some 64 kB
    tracemalloc.start()
    try:
        answer = export(receiver, bomb, **{"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413 and "decompressed" in answer.text
    assert peak < 2 * MAX_BODY_BYTES + 2**20  # the limit and its overshoot, never the 64 MiB


def test_a_chunked_body_and_an_unknown_encoding_are_refused(receiver):
    assert export(receiver, iter([b""])).status_code == 411  # requests sends a generator chunked
    assert export(receiver, **{"Content-Encoding": "br"}).status_code == 415
    assert export(receiver, b"not protobuf \xff").status_code == 400
    assert export(receiver, **{"Content-Type": "application/json"}).status_code == 415


def test_the_profile_receiver_refuses_the_same_and_a_bomb_inside_a_push():
    api = PyroscopeApi(ProfileStore(), port=0)
    try:
        assert requests.post(f"{api.url}{PUSH_PATH}", data=b"", timeout=5).status_code == 200
        assert requests.post(f"{api.url}{PUSH_PATH}", data=b"", headers={"Origin": "https://attacker.example"},
                             timeout=5).status_code == 403
        # A PushRequest whose one raw profile is a gzip bomb: series(1) > labels(1) + raw sample(2) > profile(1).
        profile = gzip.compress(bytes(2 * MAX_BODY_BYTES))
        label = _field(1, _field(1, b"__name__") + _field(2, b"process_cpu"))
        push = _field(1, label + _field(2, _field(1, profile)))
        answer = requests.post(f"{api.url}{PUSH_PATH}", data=push, timeout=10)
        assert answer.status_code == 413
        assert requests.post(f"{api.url}{PUSH_PATH}", data=b"\xff\xff\xff", timeout=5).status_code == 400
    finally:
        api.close()


def test_the_trace_pages_refuse_a_foreign_host():
    api = TempoApi(TraceStore(), port=0)
    try:
        assert requests.get(f"{api.url}/ready", timeout=5).status_code == 200
        assert requests.get(f"{api.url}/ready", headers={"Host": "attacker.example"}, timeout=5).status_code == 403
    finally:
        api.close()


def _field(number, data):
    """One length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(number):
    out = b""
    while number >= 0x80:
        out += bytes([number & 0x7F | 0x80])
        number >>= 7
    return out + bytes([number])


def test_a_client_gone_before_its_answer_leaves_no_traceback(capsys):
    """A caller that gave up (its timeout, a closed tab) while the answer was being made: the
    write fails, and the server says nothing of it (socketserver prints the traceback)."""
    client_gone, handled = threading.Event(), threading.Event()

    class AnswersLate(LoopbackHandler):
        def get(self, url):
            client_gone.wait(5)
            return 200, "text/plain", b"late" * 10_000

    server = LoopbackServer(AnswersLate)
    handle_error = server._server.handle_error
    server._server.handle_error = lambda *args: (handle_error(*args), handled.set())
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closed with a reset
        client_gone.set()
        assert handled.wait(5), "the answer's write did not fail"
    finally:
        server.close()
    assert "Traceback" not in capsys.readouterr().err
