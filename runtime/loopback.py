"""A threaded HTTP server on a free loopback port: the OTLP receiver's, and the tests' fake services'."""

import threading
from http.server import ThreadingHTTPServer


class LoopbackHttpServer:
    """A threaded HTTP server on loopback, serving `handler_class`: on `port`, or a free one."""

    def __init__(self, handler_class, port=0):
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def reply(handler, status, content_type, data, headers=None):
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
