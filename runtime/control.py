"""Freeze, resume or reload one service of a running `make run`, by the process ids make run
recorded in var/run.json: never a process of anyone else's, as a pattern (`pkill -f`) might be.

    python -m runtime.control freeze die-service    SIGSTOP to its master and workers: connections
                                                    are accepted, never answered (make freeze SERVICE=...)
    python -m runtime.control resume die-service    SIGCONT: it answers again, the queue first
    python -m runtime.control reload die-service    SIGHUP to gunicorn's master: new workers, and the
                                                    die service upserts its JSON file again
"""

import argparse
import os
import signal
import sys
from pathlib import Path

from ops.services import SERVICES
from runtime.processes import RUN_FILE, STATE_DIR, live_run, signal_gunicorn

# action -> (signal, whether the workers get it too: a HUP is the master's to act on)
ACTIONS = {"freeze": (signal.SIGSTOP, True), "resume": (signal.SIGCONT, True), "reload": (signal.SIGHUP, False)}


class NotRunning(Exception):
    pass


def recorded_pid(state_dir, service):
    """The gunicorn master make run started for `service`, from its run.json: while make run
    itself runs, its pids are still its own."""
    run = live_run(state_dir)
    if not run or service not in run.get("pids", {}):
        raise NotRunning(f"make run is not running ({Path(state_dir) / RUN_FILE} names no live run): "
                         "start it with `make run`")
    return run["pids"][service]


def control(state_dir, action, service):
    sig, workers_too = ACTIONS[action]
    pid = recorded_pid(state_dir, service)
    if workers_too:
        signal_gunicorn(pid, sig)
    else:
        os.kill(pid, sig)
    return pid


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m runtime.control", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("service", choices=[service.name for service in SERVICES])
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="make run's state folder (default var/)")
    args = parser.parse_args(argv)
    try:
        pid = control(args.state_dir, args.action, args.service)
    except NotRunning as problem:
        print(problem, file=sys.stderr)
        return 2
    print(f"{args.service} (gunicorn master {pid}): {args.action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
