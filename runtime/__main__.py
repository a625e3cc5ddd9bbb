"""`make run`: python -m runtime (runtime/launcher/run.py says what it does).

    python -m runtime                          (Ctrl-C stops everything it started)
    python -m runtime --ports 9103,9104,9105   (die service, dice roller, frontend)
    python -m runtime --show all               (every log line in the terminal too, condensed; or logs)
    python -m runtime --no-trace-view          (no local backend: the services send their traces
                                                where OTEL_EXPORTER_OTLP_ENDPOINT says)
    python -m runtime --no-prometheus          (no Prometheus and Alertmanager, even when installed)
    kill -USR1 <its pid>                       (prints where each of its threads is, for a report)
"""

import argparse
import faulthandler
import signal
import sys
from pathlib import Path

from backend_apis.pyroscope import PYROSCOPE_PORT
from backend_apis.tempo import TEMPO_PORT
from ops.services import SERVICES
from runtime.backends.otlp import OTLP_HTTP_PORT
from runtime.launcher.prometheus import ALERTMANAGER_PORT, PROMETHEUS_PORT
from runtime.launcher.run import run
from runtime.launcher.run_file import STATE_DIR
from runtime.views.log_lines import DEFAULT_SHOW, SHOW


def parse_ports(text):
    try:
        ports = [int(port) for port in text.split(",")]
    except ValueError:
        ports = []
    if len(ports) != len(SERVICES) or not all(0 < port < 65536 for port in ports):
        raise argparse.ArgumentTypeError(f"{text!r}: expected three ports, e.g. 8103,8104,8105")
    return dict(zip(SERVICES, ports, strict=True))


def main(argv=None):
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck run can say where it is
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=parse_ports, default={service: service.local_port for service in SERVICES},
                        help="die service, dice roller and frontend ports (default 8103,8104,8105)")
    parser.add_argument("--no-trace-view", action="store_true",
                        help="no local backend: the services send their traces where the OTEL_* variables say")
    parser.add_argument("--otlp-port", type=int, default=OTLP_HTTP_PORT,
                        help="where the local backend receives OTLP/HTTP traces (default %(default)s)")
    parser.add_argument("--tempo-port", type=int, default=TEMPO_PORT,
                        help="where it serves the traces as Tempo does (default %(default)s)")
    parser.add_argument("--pyroscope-port", type=int, default=PYROSCOPE_PORT,
                        help="where it receives the profiles and serves them as Pyroscope does (default %(default)s)")
    parser.add_argument("--prometheus-port", type=int, default=PROMETHEUS_PORT,
                        help="Prometheus' port, when it is installed (a free one when taken; default %(default)s)")
    parser.add_argument("--alertmanager-port", type=int, default=ALERTMANAGER_PORT,
                        help="Alertmanager's port, when it is installed (a free one when taken; default %(default)s)")
    parser.add_argument("--no-prometheus", action="store_true",
                        help="start no Prometheus and Alertmanager, even when they are installed")
    parser.add_argument("--show", choices=SHOW, default=DEFAULT_SHOW,
                        help="what the terminal shows: " + "; ".join(f"{name}: {what}" for name, what in SHOW.items())
                             + " (default %(default)s). The log files get every line, whole, either way")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="where the log files and run.json go, for the labs (default var/)")
    args = parser.parse_args(argv)
    return run(args.ports, args.state_dir, show=args.show, serve_telemetry=not args.no_trace_view,
               telemetry_ports={"otlp_port": args.otlp_port, "tempo_port": args.tempo_port,
                                "pyroscope_port": args.pyroscope_port},
               prometheus_ports=None if args.no_prometheus else (args.prometheus_port, args.alertmanager_port))


if __name__ == "__main__":
    sys.exit(main())
