"""make run's local backend: what its services, and any program on this machine exporting with
the OpenTelemetry defaults, send their telemetry to. The OTLP receiver on 127.0.0.1:4318 (a free
port when that is taken), the trace store behind a Tempo API on :3200, the profiles behind a
Pyroscope API on :4040, and the terminal's trace view that prints each trace as it completes."""

import contextlib

from backend_apis.pyroscope import PYROSCOPE_PORT
from backend_apis.tempo import TEMPO_PORT
from ops.settings import SETTINGS, SettingError
from ops.telemetry import tracing_enabled
from runtime.backends.otlp import OTLP_HTTP_PORT, OtlpReceiver
from runtime.backends.profiles import ProfileStore
from runtime.backends.pyroscope import PyroscopeApi
from runtime.backends.tempo import TempoApi, TraceStore
from runtime.launcher.run_file import exporting_to
from runtime.views.search import render_search
from runtime.views.terminal import TraceView

# How often the services' profiling agents send their samples to make run (the agent's own
# default is 10 s): a trace printed in the terminal waits little for its CPU lines.
PROFILE_UPLOAD_SECONDS = 2


def wanted(environ):
    """Whether make run should receive the traces itself: tracing on, with OTLP (the default),
    and no endpoint of the user's (a collector of theirs then gets the services' traces)."""
    if not tracing_enabled(environ):
        return False
    try:
        if SETTINGS["OTEL_TRACES_EXPORTER"].read(environ) != "otlp":
            return False
    except SettingError:
        return False  # the services refuse it at start, and say so
    return not (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class LocalTelemetry:
    """The receivers, stores and trace view above, started together and closed together.
    `profiles`: receive the services' profiles (False when a Pyroscope of the user's gets them)."""

    def __init__(self, out, logs_dir, profiles=True, otlp_port=OTLP_HTTP_PORT, tempo_port=TEMPO_PORT,
                 pyroscope_port=PYROSCOPE_PORT):
        self.traces = TraceStore()
        self.profiles = ProfileStore(upload_seconds=PROFILE_UPLOAD_SECONDS) if profiles else None
        with contextlib.ExitStack() as started:
            self.view = TraceView(self.traces, self.profiles, out=out, logs_dir=logs_dir)
            started.callback(self.view.close)
            self.receiver = OtlpReceiver(on_spans=self.view.add, keep=False, port=otlp_port)
            started.callback(self.receiver.close)
            self.tempo = TempoApi(self.traces, port=tempo_port, page=self.view.page, search_page=render_search)
            started.callback(self.tempo.close)
            self.pyroscope = PyroscopeApi(self.profiles, port=pyroscope_port) if profiles else None
            if self.pyroscope:
                started.callback(self.pyroscope.close)
            self._close = started.pop_all()

    def environment(self):
        """What the services need to send here."""
        environment = exporting_to(self.receiver.endpoint)
        if self.pyroscope:
            environment.update(PYROSCOPE_SERVER_ADDRESS=self.pyroscope.url,
                               PYROSCOPE_UPLOAD_INTERVAL_SECONDS=str(PROFILE_UPLOAD_SECONDS))
        return environment

    def moved(self):
        """[(what, wanted port, port taken instead)] of the servers whose usual port was taken."""
        servers = [("OTLP receiver", self.receiver), ("Tempo API", self.tempo), ("Pyroscope API", self.pyroscope)]
        return [(what, server.wanted_port, server.port) for what, server in servers if server and server.fell_back]

    def close(self):
        """The servers first, then the view, which prints what is left (the services' last
        spans, sent as they stopped)."""
        self._close.close()
