"""The frontend under Django's runserver (autoreload, DEBUG on) beside a running `make run`: it
calls make run's dice roller and die service, and sends its spans to make run's trace view, so a
roll through it is one trace printed with the others. Without a make run, the same on the
default ports, the backends started some other way.

    python -m runtime.launcher.runserver              (make runserver; Ctrl-C stops it)
    python -m runtime.launcher.runserver --port 8125  (another port)
"""

import argparse
import os
import sys
from pathlib import Path

from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND
from runtime import REPO
from runtime.launcher.run_file import STATE_DIR, exporting_to, live_run

# Beside make run's frontend on 8105.
PORT = 8115


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
    where = "make run's backends and trace view" if run else "the backends on their default ports (no make run)"
    print(f"runserver on http://127.0.0.1:{port}, with {where}.", file=sys.stderr, flush=True)
    os.chdir(REPO)
    os.execve(sys.executable, [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
              environment(run, os.environ))


if __name__ == "__main__":
    main()
