"""`make run`: the three services on their local ports with gunicorn, exactly as the
containers run them. With no collector to send traces to, it receives them itself and prints
each trace in the terminal (runtime/trace_view.py).

    python -m runtime                          (Ctrl-C stops all three)
    python -m runtime --ports 9103,9104,9105   (die service, dice roller, frontend)
    python -m runtime --no-trace-view          (never print traces)
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time

from ops.services import DICE_ROLLER, DIE_SERVICE, SERVICES
from runtime.processes import REPO, gunicorn_command
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
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=parse_ports, default={service: service.local_port for service in SERVICES},
                        help="die service, dice roller and frontend ports (default 8103,8104,8105)")
    parser.add_argument("--no-trace-view", action="store_true",
                        help="never print the traces here, even with no collector to send them to")
    args = parser.parse_args(argv)
    ports = args.ports
    env = {
        **os.environ,
        "DIE_SERVICE_URL": f"http://127.0.0.1:{ports[DIE_SERVICE]}",
        "DICE_ROLLER_URL": f"http://127.0.0.1:{ports[DICE_ROLLER]}",
    }
    view = None
    if not args.no_trace_view and wanted(os.environ):
        view = TraceView()
        env.update(view.environment())
        print(f"Nothing receives traces at {DEFAULT_COLLECTOR}: each trace is printed here "
              "(--no-trace-view turns that off).", file=sys.stderr)
    # A fresh key per run: the frontend refuses to start without one when DEBUG is off.
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))
    processes = [
        subprocess.Popen(
            gunicorn_command(service.entry_point, f"127.0.0.1:{ports[service]}"),
            cwd=REPO,
            env={**env, "OTEL_SERVICE_NAME": service.name},
        )
        for service in SERVICES
    ]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    urls = ", ".join(f"{service} http://127.0.0.1:{port}" for service, port in reversed(ports.items()))
    print(f"Dice sandbox: {urls}. Ctrl-C stops all three.", file=sys.stderr)
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("A service stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # All at once: each may take a few seconds (requests in flight, the last spans).
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if view:  # after the services: their last spans arrive as they stop
            view.close()


if __name__ == "__main__":
    sys.exit(main())
