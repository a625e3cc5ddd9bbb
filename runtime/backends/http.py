"""The one HTTP server make run's stand-ins are built on: threaded, on loopback only, and
refusing what no client of theirs sends, so that nothing but a local program can write into
make run, and nothing can make it grow without bound:

- a `Host` that is not a loopback name or address: 403 (a web page's DNS-rebinding request);
- a POST from a browser page of another origin (its `Origin` header): 403, so no page the
  learner opens can push spans or profiles (an exporter or an agent sends no `Origin`);
- a body past MAX_BODY_BYTES, as sent or once decompressed: 413, read no further;
- a client that stops sending mid-request: cut after READ_TIMEOUT_SECONDS;
- a client gone before its answer: nothing said, no traceback in the learner's terminal."""

import errno
import ipaddress
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Far above what the services send (an OTLP batch of 512 spans is some 300 kB; a profile
# push, tens of kB) and what an OpenTelemetry Collector takes by default (20 MiB).
MAX_BODY_BYTES = 16 * 1024 * 1024
READ_TIMEOUT_SECONDS = 10
LOOPBACK_NAMES = ("localhost",)
# Content-Encoding -> zlib's window bits for it.
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Refused(Exception):
    """An answer that refuses the request: its status and a sentence of plain text."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


class LoopbackHandler(BaseHTTPRequestHandler):
    """A request to a stand-in: subclasses answer `get(url)` and `post(url, body)` with
    (status, content type, bytes) or (..., headers), `url` split (urllib's SplitResult) and the
    body read and decompressed within the limits."""

    timeout = READ_TIMEOUT_SECONDS  # the socket's: a silent client is cut

    def get(self, url):
        raise Refused(404, "404 page not found")

    def post(self, url, body):
        raise Refused(404, "404 page not found")

    def do_GET(self):
        self._answer(lambda: self.get(urlsplit(self.path)))

    def do_POST(self):
        self._answer(lambda: self.post(urlsplit(self.path), self._body()))

    def _answer(self, produce):
        try:
            self._refuse_foreign()
            status, content_type, data, *headers = produce()
            headers = headers[0] if headers else {}
        except Refused as refusal:
            status, content_type, data, headers = refusal.status, "text/plain; charset=utf-8", \
                f"{refusal.message}\n".encode(), {}
            self.close_connection = True  # an unread body must not be taken for the next request
        reply(self, status, content_type, data, headers)

    def _refuse_foreign(self):
        host = self.headers.get("Host")
        if host is not None and not is_loopback(host):
            raise Refused(403, "make run answers only to a loopback name or address (Host)")
        origin = self.headers.get("Origin")
        if self.command == "POST" and origin is not None and origin not in self.server.origins:
            raise Refused(403, "make run takes no POST from a web page of another origin")

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise Refused(411, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length", 0))
        except ValueError:
            raise Refused(400, "Content-Length is not a number") from None
        if length < 0:
            raise Refused(400, "Content-Length is negative")
        if length > MAX_BODY_BYTES:
            raise Refused(413, f"a body may be {MAX_BODY_BYTES // 2**20} MiB at most")
        body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        return body if encoding == "identity" else inflate(body, encoding)

    def log_message(self, *args):
        pass  # the terminal is the learner's: no access lines of ours


def inflate(data, encoding="gzip"):
    """`data` decompressed, never past MAX_BODY_BYTES (413): a small gzip bomb stays small."""
    if encoding not in ENCODINGS:
        raise Refused(415, f"Content-Encoding {encoding[:20]!r} is not taken: gzip, deflate or none")
    inflater = zlib.decompressobj(ENCODINGS[encoding])
    try:
        inflated = inflater.decompress(data, MAX_BODY_BYTES + 1)
    except zlib.error:
        raise Refused(400, f"the body is not valid {encoding}") from None
    if len(inflated) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise Refused(413, f"a body may be {MAX_BODY_BYTES // 2**20} MiB at most, decompressed")
    return inflated


def is_loopback(host_header):
    """Whether a Host header names this machine's loopback: localhost, 127.0.0.0/8 or ::1 (port aside)."""
    host = urlsplit(f"//{host_header}").hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reply(handler, status, content_type, data, headers=None):
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that says nothing of a client gone before its answer was written."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        # A caller that gave up (its timeout, a closed browser tab) is no error of the server's:
        # socketserver would print a BrokenPipeError's traceback into the terminal.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 serving `handler_class`: on `port` (0: a free one);
    with `fallback`, on a free one when `port` is taken (`fell_back` then says so)."""

    def __init__(self, handler_class, port=0, fallback=False):
        self.wanted_port = port
        try:
            self._server = QuietHTTPServer(("127.0.0.1", port), handler_class)
        except OSError as error:
            if not (fallback and error.errno == errno.EADDRINUSE):
                raise
            self._server = QuietHTTPServer(("127.0.0.1", 0), handler_class)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # What a browser calls this server's own origin, the only one whose POSTs it takes.
        self._server.origins = {f"http://{host}:{self.port}" for host in ("127.0.0.1", "localhost", "[::1]")}
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def fell_back(self):
        return bool(self.wanted_port) and self.port != self.wanted_port

    def close(self):
        self._server.shutdown()
        self._server.server_close()
