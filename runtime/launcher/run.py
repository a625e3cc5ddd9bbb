"""`make run`: the three services on their local ports with gunicorn, exactly as the containers
run them, and a local backend for their telemetry (telemetry.py): each trace printed in the
terminal as it completes and kept for the labs, the trace pages, Tempo's and Pyroscope's APIs.
The services' log lines go to the terminal and to var/logs/<service>.log.

Like a framework's dev server, it owns what it starts: SIGHUP (the terminal closed), SIGTERM and
Ctrl-C all stop every process it started and remove its run file; a port that another process
holds stops it before anything starts, naming the holder; the banner comes once each of its
own gunicorns has said it listens and the page answers."""

import contextlib
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
from sqlalchemy.engine import make_url

from backend_apis.logs import log_file
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND, SERVICES
from ops.settings import read_or_default
from runtime.backends.otlp import OTLP_HTTP_PORT
from runtime.launcher.gunicorn import resume, says_it_listens, start_gunicorn
from runtime.launcher.prometheus import PrometheusStack
from runtime.launcher.run_file import RunFile
from runtime.launcher.telemetry import PROFILE_UPLOAD_SECONDS, LocalTelemetry, wanted
from runtime.views.log_lines import DEFAULT_SHOW, SHOW, shows_trees, terminal_line

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
READY_SECONDS = 30.0
STOP_SECONDS = 15.0


class Stop(Exception):
    """A stop signal arrived (Ctrl-C, SIGTERM, or SIGHUP: the terminal closed)."""


def _stop(signum, frame):
    if signum == signal.SIGHUP:
        silence_terminal()
    raise Stop(signal.Signals(signum).name)


def silence_terminal():
    """The terminal is gone: what is still written to it (the last traces, the last log lines)
    goes nowhere instead of failing the clean-up."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


class RunningService:
    """One service's gunicorn under make run: its lines copied to its log file, and to the
    terminal as `shown` says (a function of the line: its text there, or None), and whether it
    has said it listens."""

    def __init__(self, service, port, env, logs_dir, shown):
        self.service, self.port = service, port
        self.url = f"http://127.0.0.1:{port}"
        self.listening = threading.Event()
        self.process = start_gunicorn(service.entry_point, port, {**env, "OTEL_SERVICE_NAME": service.name},
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._copier = threading.Thread(target=self._copy_lines, args=(log_file(logs_dir, service.name), shown),
                                        name=f"lines of {service.name}", daemon=True)
        self._copier.start()

    def _copy_lines(self, path, shown):
        """Each line the service writes, whole to its log file (this run's alone), and to the
        terminal as `shown` says; drained to the end whatever the terminal does, so that gunicorn
        never blocks on a write."""
        to_terminal = True
        with open(path, "wb") as log:
            for line in self.process.stdout:
                if not self.listening.is_set() and says_it_listens(line.decode(errors="replace"), self.port,
                                                                   self.process.pid):
                    self.listening.set()
                log.write(line)
                log.flush()
                text = shown(line) if to_terminal else None
                if text is not None:
                    try:  # the line and its newline in one write: three services share the terminal
                        sys.stderr.write(text + "\n")
                        sys.stderr.flush()
                    except (OSError, ValueError):
                        to_terminal = False

    def wait_until_listening(self, deadline):
        """Whether this gunicorn said it listens before `deadline` (monotonic), alive."""
        while not self.listening.is_set() and self.process.poll() is None and time.monotonic() < deadline:
            self.listening.wait(0.1)
        return self.listening.is_set() and self.process.poll() is None

    def terminate(self):
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                resume(self.process.pid)  # a frozen one (make freeze, a lab's) would never see the SIGTERM
            self.process.terminate()

    def wait_stopped(self):
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._copier.join(timeout=2)


def port_taken_by(port):
    """None when 127.0.0.1:`port` is free; else who holds it, in words ("gunicorn (pid 1234:
    python -m gunicorn ...)"), or "another process" when the system does not say."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return None
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
    with contextlib.suppress(psutil.Error, OSError):
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN \
                    and connection.pid:
                process = psutil.Process(connection.pid)
                return f"{process.name()} (pid {connection.pid}: {' '.join(process.cmdline())[:120]})"
    return "another process"


def run(ports, state_dir, show=DEFAULT_SHOW, serve_telemetry=True, telemetry_ports=None, prometheus_ports=None):
    """make run itself, until a stop signal (0) or a service stops by itself (1); see the module.
    `show`: what the terminal shows (runtime/views/log_lines.py SHOW). `telemetry_ports`:
    LocalTelemetry's otlp_port, tempo_port and pyroscope_port, when not its defaults.
    `prometheus_ports`: (Prometheus', Alertmanager's) to start them on when installed
    (prometheus.py), or None for neither."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)
    for service, port in ports.items():
        holder = port_taken_by(port)
        if holder:
            print(f"make run: port {port} ({service.name}) is taken by {holder}. Stop that process, or run on "
                  "other ports: .venv/bin/python -m runtime --ports 9103,9104,9105", file=sys.stderr)
            return 1
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    run_file = RunFile(state_dir)
    telemetry, services, alerting = None, {}, None
    try:
        env = {**os.environ, "DIE_SERVICE_URL": f"http://127.0.0.1:{ports[DIE_SERVICE]}",
               "DICE_ROLLER_URL": f"http://127.0.0.1:{ports[DICE_ROLLER]}"}
        env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))  # the frontend needs one with DEBUG off
        if serve_telemetry and wanted(os.environ):
            trees = sys.stdout if shows_trees(show) else open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
            telemetry = LocalTelemetry(trees, logs, profiles=not os.environ.get("PYROSCOPE_SERVER_ADDRESS"),
                                       **(telemetry_ports or {}))
            env.update(telemetry.environment())
            env.setdefault("TRACE_VIEW_URL", telemetry.tempo.url)  # the page's trace links open make run's pages
        deadline = time.monotonic() + READY_SECONDS
        for service in SERVICES:
            services[service] = RunningService(service, ports[service], env, logs, terminal_line(show))
            if service is DIE_SERVICE:
                # As compose's depends_on: the die service listens once its database is seeded, so
                # the frontend's first die list finds it there instead of logging a failed fetch.
                services[service].wait_until_listening(deadline)
        if prometheus_ports:
            alerting = PrometheusStack(state_dir, logs, {s.container: f"127.0.0.1:{ports[s]}" for s in SERVICES},
                                       *prometheus_ports).start()
        run_file.write({**_record(services, telemetry, logs), **(alerting.run_fields() if alerting else {})},
                       {s.name: r.process.pid for s, r in services.items()})
        ready = all(running.wait_until_listening(deadline) for running in services.values()) \
            and _page_answers(services[FRONTEND], deadline)
        if not all(running.process.poll() is None for running in services.values()):
            return _stopped_by_itself(services)
        print(banner(services, telemetry, logs, ready, show, alerting.banner_lines() if alerting else ()),
              file=sys.stderr, flush=True)
        while all(running.process.poll() is None for running in services.values()):
            time.sleep(0.5)
        return _stopped_by_itself(services)
    except Stop:
        # The services' own goodbyes are INFO lines, in the log files: say it here.
        print("make run: stopping everything it started.", file=sys.stderr, flush=True)
        return 0
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C does not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        run_file.remove()
        for running in services.values():  # all at once: each may take a few seconds
            running.terminate()
        for running in services.values():
            running.wait_stopped()
        if alerting:
            alerting.stop()
        if telemetry:  # after the services: their last spans arrive as they stop
            telemetry.close()


def _stopped_by_itself(services):
    for running in services.values():
        if running.process.poll() is not None:
            print(f"make run: the {running.service.name} stopped (exit code {running.process.returncode}; its "
                  "lines above say why); stopping the others.", file=sys.stderr)
    return 1


def _page_answers(frontend, deadline):
    """Whether the frontend answers /readyz (its die list in hand) before `deadline`."""
    while time.monotonic() < deadline and frontend.process.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{frontend.url}/readyz", timeout=1) as answer:
            if answer.status == 200:
                return True
        time.sleep(0.2)
    return False


def _record(services, telemetry, logs):
    """The run file's record: what the labs, the traffic generator and runserver read."""
    return {
        "urls": {running.service.name: running.url for running in services.values()},
        "tempo": telemetry.tempo.url if telemetry else None,
        "trace_view": telemetry.tempo.url if telemetry else None,
        "otlp": telemetry.receiver.endpoint if telemetry else None,
        "pyroscope": telemetry.pyroscope.url if telemetry and telemetry.pyroscope else None,
        "profile_upload_seconds": PROFILE_UPLOAD_SECONDS if telemetry and telemetry.pyroscope else None,
        "logs": str(logs),
        # Never the password: this file is for anyone on the machine to read.
        "database_url": make_url(read_or_default("DATABASE_URL")).render_as_string(hide_password=True),
    }


def banner(services, telemetry, logs, ready, show, alerting_lines=()):
    """What to open, where each signal is, what the terminal shows, how to stop."""
    rule = "─" * 76
    lines = [rule, "Dice sandbox " + ("ready: open the page, roll, and follow the trace" if ready else
                                      "started, but the page is not ready yet: see the lines above")]
    lines.append(f"  the page        {services[FRONTEND].url}")
    for service in (DICE_ROLLER, DIE_SERVICE):
        lines.append(f"  {service.name:<15} {services[service].url}")
    if telemetry:
        lines.append(f"  trace pages     {telemetry.tempo.url}/trace/<trace id> (the page's View trace opens them)")
        lines.append(f"  Tempo API       {telemetry.tempo.url}/api/search, /api/traces/<trace id>")
        if telemetry.pyroscope:
            lines.append(f"  Pyroscope API   {telemetry.pyroscope.url} (the CPU profiles)")
        else:
            lines.append(f"  profiles        sent to your Pyroscope, {os.environ['PYROSCOPE_SERVER_ADDRESS']}")
        receiver = telemetry.receiver
        if receiver.port == OTLP_HTTP_PORT:
            lines.append(f"  OTLP receiver   {receiver.endpoint}, the OTLP default: your app's traces land here too")
        else:  # taken, or another port asked for: the defaults do not land here
            lines.append(f"  OTLP receiver   {receiver.endpoint}: for a program of yours, set "
                         f"OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}")
        for what, wanted_port, port in telemetry.moved():
            lines.append(f"  note            port {wanted_port} was taken: the {what} is on {port}")
    lines += alerting_lines
    lines.append(f"  log files       {_shorter(logs)}/<service>.log (every line, as JSON)")
    if telemetry:
        more = " (make run SHOW=all: every line)" if show == DEFAULT_SHOW else ""
        lines.append(f"  this terminal   {SHOW[show]}{more}")
    lines += ["  Ctrl-C, or closing this terminal, stops everything make run started.", rule]
    return "\n".join(lines)


def _shorter(path):
    """`path` from the current folder when it is inside it (var/logs), else whole."""
    path = Path(path).absolute()
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
