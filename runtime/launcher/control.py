"""Freeze, resume or reload one service of a running `make run`, by the process make run
recorded in var/run.json and only while it is still that process (never a stranger that took
its pid, nor anything a pattern such as `pkill -f` might match):

    make freeze SERVICE=die-service    SIGSTOP to its gunicorn's process group: connections are
                                       accepted, never answered; its workers survive any length of it
    make resume SERVICE=die-service    SIGCONT: it answers again, the queue first
    make reload SERVICE=die-service    SIGHUP to gunicorn's master: new workers, and the die
                                       service upserts its JSON file again
"""

import argparse
import sys
from pathlib import Path

from ops.services import SERVICES
from runtime.launcher.gunicorn import freeze, reload, resume
from runtime.launcher.run_file import RUN_FILE, STATE_DIR, NotRunning, live_run, service_pid

ACTIONS = {"freeze": freeze, "resume": resume, "reload": reload}
NAMES = [service.name for service in SERVICES]
USAGE = f"make freeze|resume|reload SERVICE=NAME, NAME one of {', '.join(NAMES)}"


def control(state_dir, action, service_name):
    """Does `action` to the service of the make run in `state_dir`; its gunicorn master's pid, or NotRunning."""
    run = live_run(state_dir)
    if not run:
        raise NotRunning(f"make run is not running ({Path(state_dir) / RUN_FILE} names no live run): start it "
                         "with `make run`")
    return act(run, action, service_name)


def act(run, action, service_name):
    """Does `action` (freeze, resume, reload) to a service of the live run `run` (its run file's
    record), only while its gunicorn is still the one make run started; its pid, or NotRunning."""
    pid = service_pid(run, service_name)
    ACTIONS[action](pid)
    return pid


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m runtime.launcher.control", description=__doc__.splitlines()[0],
                                     usage=USAGE)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("service", nargs="?", default="")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="make run's state folder (default var/)")
    args = parser.parse_args(argv)
    if args.service not in NAMES:
        unknown = f"{args.service!r} is not a service of make run. " if args.service else ""
        print(f"{unknown}usage: {USAGE}", file=sys.stderr)
        return 2
    try:
        pid = control(args.state_dir, args.action, args.service)
    except NotRunning as problem:
        print(problem, file=sys.stderr)
        return 2
    print(f"{args.service} (gunicorn master {pid}): {args.action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
