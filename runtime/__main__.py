"""`make run`: the three services on their local ports with gunicorn, exactly as the
containers run them. With no collector to send traces to, it receives them itself, prints each
trace in the terminal (runtime/trace_view.py) and serves the last ones as Tempo does on
127.0.0.1:3200 (runtime/tempo_api.py); it receives the services' profiles too, prints each SERVER
span's CPU under its trace and serves them as Pyroscope does on 127.0.0.1:4040
(runtime/pyroscope_api.py). The services' log lines go to the terminal and to
var/logs/<service>.log, where the labs and the trace pages read them (labs/sandbox.py).

    python -m runtime                          (Ctrl-C stops all three)
    python -m runtime --ports 9103,9104,9105   (die service, dice roller, frontend)
    python -m runtime --no-trace-view          (never print traces)
    kill -USR1 <its pid>                       (prints where each of its threads is, for a report)
"""

import argparse
import contextlib
import faulthandler
import json
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

from sqlalchemy.engine import make_url

from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND, SERVICES
from ops.settings import read_or_default
from runtime.processes import REPO, RUN_FILE, STATE_DIR, gunicorn_command, signal_gunicorn
from runtime.prometheus_stack import ALERTMANAGER_PORT, PROMETHEUS_PORT, PrometheusStack  # issue 41
from runtime.pyroscope_api import PYROSCOPE_PORT
from runtime.tempo_api import TEMPO_PORT
from runtime.trace_view import DEFAULT_COLLECTOR, TraceView, wanted


def parse_ports(text):
    try:
        ports = [int(port) for port in text.split(",")]
    except ValueError:
        ports = []
    if len(ports) != len(SERVICES) or not all(0 < port < 65536 for port in ports):
        raise argparse.ArgumentTypeError(f"{text!r}: expected three ports, e.g. 8103,8104,8105")
    return dict(zip(SERVICES, ports, strict=True))


def main(argv=None):
    # Ctrl-C stops make run, whoever started it: a shell's background job (a script's `make run &`,
    # a CI step) inherits SIGINT ignored, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck run can say where it is
    parser = argparse.ArgumentParser(prog="python -m runtime", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--ports", type=parse_ports, default={service: service.local_port for service in SERVICES},
                        help="die service, dice roller and frontend ports (default 8103,8104,8105)")
    parser.add_argument("--no-trace-view", action="store_true",
                        help="never print the traces here, even with no collector to send them to")
    parser.add_argument("--tempo-port", type=int, default=TEMPO_PORT,
                        help="where the trace view serves Tempo's API (default %(default)s)")
    parser.add_argument("--pyroscope-port", type=int, default=PYROSCOPE_PORT,
                        help="where the trace view receives the profiles and serves Pyroscope's API "
                             "(default %(default)s)")
    # issue 41: make run's Prometheus and Alertmanager (runtime/prometheus_stack.py), when installed.
    parser.add_argument("--prometheus-port", type=int, default=PROMETHEUS_PORT,
                        help="Prometheus' port, when it is installed and the port free (default %(default)s)")
    parser.add_argument("--alertmanager-port", type=int, default=ALERTMANAGER_PORT,
                        help="Alertmanager's port, when it is installed and the port free (default %(default)s)")
    parser.add_argument("--show", choices=("all", "traces", "logs"), default="all",
                        help="what the terminal shows: the trace trees and the services' log lines (all), or one "
                             "of them; the log files get every line either way (default %(default)s)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="where the log files and run.json go, for the labs (default var/)")
    args = parser.parse_args(argv)
    ports = args.ports
    env = {
        **os.environ,
        "DIE_SERVICE_URL": f"http://127.0.0.1:{ports[DIE_SERVICE]}",
        "DICE_ROLLER_URL": f"http://127.0.0.1:{ports[DICE_ROLLER]}",
    }
    logs = args.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    view = None
    if not args.no_trace_view and wanted(os.environ):
        trees = sys.stdout if args.show != "logs" else open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
        try:
            view = TraceView(out=trees, tempo_port=args.tempo_port, pyroscope_port=args.pyroscope_port,
                             logs_dir=logs)
            served = (f"kept as pages and for Tempo's API on http://127.0.0.1:{args.tempo_port}, with their "
                      f"profiles for Pyroscope's on {view.profiles.url}")
        except OSError as error:  # a port is taken: the traces and their CPU are still printed
            view = TraceView(out=trees, pyroscope_port=0)
            served = f"not served (port {args.tempo_port}: {error.strerror}; the labs cannot read them)"
        env.update(view.environment())
        # A Pyroscope of the user's own gets the profiles (the CPU lines then say none arrived).
        if os.environ.get("PYROSCOPE_SERVER_ADDRESS"):
            env["PYROSCOPE_SERVER_ADDRESS"] = os.environ["PYROSCOPE_SERVER_ADDRESS"]
        if view.tempo and not os.environ.get("TRACE_VIEW_URL"):
            env["TRACE_VIEW_URL"] = view.tempo.url  # the page's trace links open make run's trace pages
        print(f"Nothing receives traces at {DEFAULT_COLLECTOR}: each trace is printed here and {served} "
              "(--no-trace-view turns that off).", file=sys.stderr)
    # A fresh key per run: the frontend refuses to start without one when DEBUG is off.
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))
    processes = {}
    for service in SERVICES:
        if service is not DIE_SERVICE:
            # As compose's depends_on: the die service listens once its database is seeded, so
            # the frontend's first die list finds it there instead of logging a failed fetch.
            wait_until_listening(ports[DIE_SERVICE], processes[DIE_SERVICE])
        processes[service] = subprocess.Popen(
            gunicorn_command(service.entry_point, f"127.0.0.1:{ports[service]}"),
            cwd=REPO,
            env={**env, "OTEL_SERVICE_NAME": service.name},
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=copy_lines, args=(processes[service].stderr, logs / f"{service.name}.log",
                                                  args.show != "traces"), daemon=True).start()
    # issue 41: Prometheus and Alertmanager with the stack's config and rules, when installed.
    alerting = PrometheusStack(args.state_dir, logs, {s.container: f"127.0.0.1:{ports[s]}" for s in SERVICES},
                               args.prometheus_port, args.alertmanager_port).start()
    run_file = args.state_dir / RUN_FILE
    run_file.write_text(json.dumps({
        "pid": os.getpid(),
        "urls": {service.name: f"http://127.0.0.1:{ports[service]}" for service in SERVICES},
        "pids": {service.name: process.pid for service, process in processes.items()},
        "tempo": view.tempo.url if view and view.tempo else None,
        "trace_view": env.get("TRACE_VIEW_URL") if view and view.tempo else None,
        "otlp": view.receiver.endpoint if view else None,
        "pyroscope": view.profiles.url if view and view.profiles else None,
        "logs": str(logs),
        **alerting.run_fields(),  # issue 41: "prometheus", "alertmanager" (URLs, or None)
        # Never the password: this file is for anyone on the machine to read.
        "database_url": make_url(read_or_default("DATABASE_URL")).render_as_string(hide_password=True),
    }, indent=2))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        # The banner last, once all three answer: what to open, where the traces are, how to stop.
        ready = wait_until_ready(ports, processes)
        time.sleep(0.3)  # the services' last start-up lines (the probe's access line) go before it
        print(banner(ports, view, ready, alerting.banner_lines()), file=sys.stderr, flush=True)  # issue 41
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        print("A service stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        run_file.unlink(missing_ok=True)
        # All at once: each may take a few seconds (requests in flight, the last spans).
        for process in processes.values():
            if process.poll() is None:
                signal_gunicorn(process.pid, signal.SIGCONT)  # a frozen one (a lab's) would never see SIGTERM
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if view:  # after the services: their last spans arrive as they stop
            view.close()
        alerting.stop()  # issue 41


def wait_until_ready(ports, processes, timeout=30.0):
    """Whether the frontend answers /readyz (its die list in hand) within `timeout`, all three listening."""
    deadline = time.monotonic() + timeout
    for service, port in ports.items():
        wait_until_listening(port, processes[service], timeout=max(deadline - time.monotonic(), 0.1))
    while time.monotonic() < deadline and all(process.poll() is None for process in processes.values()):
        with contextlib.suppress(OSError), urllib.request.urlopen(
                f"http://127.0.0.1:{ports[FRONTEND]}/readyz", timeout=1) as answer:
            if answer.status == 200:
                return True
        time.sleep(0.2)
    return False


def banner(ports, view, ready, extra_lines=()):
    rule = "─" * 72
    lines = [rule, "Dice sandbox " + ("ready" if ready else "started, but the frontend is not ready yet: see the "
                                                            "lines above")]
    lines.append(f"  the page      http://127.0.0.1:{ports[FRONTEND]}")
    for service in (DICE_ROLLER, DIE_SERVICE):
        lines.append(f"  {service.name:<13} http://127.0.0.1:{ports[service]}")
    if view and view.tempo:
        lines.append(f"  traces        printed below as they complete; each as a page at {view.tempo.url}/trace/<id>")
    elif view:
        lines.append("  traces        printed below as they complete")
    lines += [*extra_lines, "  Ctrl-C stops all three.", rule]
    return "\n".join(lines)


def wait_until_listening(port, process, timeout=15.0):
    """Until something accepts connections on 127.0.0.1:`port` (or `process` exits, or time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)


def copy_lines(stream, path, to_terminal=True):
    """Each line a service writes, to its log file (this run's alone) and to the terminal."""
    with open(path, "wb") as log:
        for line in stream:
            if to_terminal:
                sys.stderr.buffer.write(line)
                sys.stderr.buffer.flush()
            log.write(line)
            log.flush()


if __name__ == "__main__":
    sys.exit(main())
