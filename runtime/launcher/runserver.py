"""The frontend under Django's runserver (autoreload, DEBUG on) beside a running `make run`: it
calls make run's dice roller and die service, and sends its spans to make run's trace view, so a
roll through it is one trace printed with the others. Without a make run, the same on the
default ports, the backends started some other way. What it writes is shown in its terminal
and kept in make run's log folder (frontend-runserver.log), where the trace pages and the labs
read every service's lines.

    python -m runtime.launcher.runserver              (make runserver; Ctrl-C stops it)
    python -m runtime.launcher.runserver --port 8125  (another port)
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from backend_apis.logs import log_file
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND
from runtime import REPO
from runtime.launcher.run_file import STATE_DIR, exporting_to, live_run

# Beside make run's frontend on 8105.
PORT = 8115
# Its log file's name, beside make run's frontend.log.
LOG_NAME = f"{FRONTEND.name}-runserver"


def environment(run, environ):
    """runserver's environment: make run's backends and trace view when `run` (its run.json) is
    given; the caller's own settings win."""
    env = {"OTEL_SERVICE_NAME": FRONTEND.name, **environ}
    if run:
        env.setdefault("DIE_SERVICE_URL", run["urls"][DIE_SERVICE.name])
        env.setdefault("DICE_ROLLER_URL", run["urls"][DICE_ROLLER.name])
        for name, value in (exporting_to(run["otlp"]) if run.get("otlp") else {}).items():
            env.setdefault(name, value)
        if run.get("trace_view"):
            env.setdefault("TRACE_VIEW_URL", run["trace_view"])
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m runtime.launcher.runserver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=PORT, help="default %(default)s")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="make run's state folder (default var/)")
    args = parser.parse_args(argv)
    port = args.port
    run = live_run(args.state_dir)
    logs = Path(run["logs"]) if run else args.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    where = "make run's backends and trace view" if run else "the backends on their default ports (no make run)"
    print(f"runserver on http://127.0.0.1:{port}, with {where}; its lines also in {log_file(logs, LOG_NAME)}.",
          file=sys.stderr, flush=True)
    # In the terminal's process group, as manage.py alone would be: Ctrl-C reaches it, and a
    # breakpoint() reads the keyboard. Unbuffered, so that each line (and pdb's prompt) shows at once.
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=REPO,
                              env={**environment(run, os.environ), "PYTHONUNBUFFERED": "1"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # (after it started: an ignored SIGINT is inherited.) The terminal's Ctrl-C stops runserver
    # itself; this process copies its last lines, then ends with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            server.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    copy_output(server.stdout.fileno(), log_file(logs, LOG_NAME))
    return server.wait()


def copy_output(source, path):
    """What runserver writes (file descriptor `source`), as it comes, to the terminal and to the
    file at `path` (this runserver's alone), until runserver closes it; the terminal gone, to
    the file only."""
    to_terminal = True
    with open(path, "wb") as log:
        while chunk := os.read(source, 65536):
            log.write(chunk)
            log.flush()
            if to_terminal:
                try:
                    sys.stderr.buffer.write(chunk)
                    sys.stderr.buffer.flush()
                except (OSError, ValueError):
                    to_terminal = False


if __name__ == "__main__":
    sys.exit(main())
