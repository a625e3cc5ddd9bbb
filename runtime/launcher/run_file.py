"""make run's run file, var/run.json: where a running make run's services, receivers and logs
are, for the labs, the traffic generator, make freeze and runserver, and who its processes are.

A pid alone names a process only while it lives: once make run is killed, its pids can be
taken by anyone's. So each process is recorded with its start time and command line, and a
run file is live only while make run itself is still the process recorded; a service's pid is
handed out (to be signalled) only while it is still the very gunicorn make run started."""

import json
import os
import time
from pathlib import Path

import psutil

from runtime import REPO

# make run's state, for the labs: the run file and the services' log files (--state-dir for another).
STATE_DIR = REPO / "var"
RUN_FILE = "run.json"
# How often a process sending its spans to make run's receiver exports them: the trees show up
# within a second or two, and a caller's root span arrives before its trace is printed.
EXPORT_DELAY_MS = "500"


class NotRunning(Exception):
    """No live make run, or not its own process under that pid any more: the message says so."""


def identity(pid):
    """Who process `pid` is: {pid, started (Unix time), command}, or None when there is none.
    A process caught in the middle of its exec shows no command line yet: asked again."""
    try:
        process = psutil.Process(pid)
        for _ in range(40):
            command = process.cmdline()
            if command:
                return {"pid": pid, "started": process.create_time(), "command": command}
            time.sleep(0.025)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        pass
    return None


# A start time is read as boot time plus ticks since boot, and the boot time moves with the
# wall clock (NTP, a virtual machine's clock catching up): the same process may read a little
# later or earlier. Its command line must match exactly as well.
SAME_START_SECONDS = 2.0


def is_still(recorded):
    """Whether the process recorded as `recorded` (an identity) runs, the same one: same pid,
    start time and command line, and not a zombie."""
    if not recorded:
        return False
    now = identity(recorded["pid"])
    if now is None or now["command"] != recorded["command"] \
            or abs(now["started"] - recorded["started"]) > SAME_START_SECONDS:
        return False
    try:
        return psutil.Process(recorded["pid"]).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class RunFile:
    """The run file in `state_dir`."""

    def __init__(self, state_dir=STATE_DIR):
        self.path = Path(state_dir) / RUN_FILE

    def write(self, record, service_pids):
        """`record` (what the readers need: urls, receivers, logs) with who make run and each
        service's gunicorn master ({service name: pid}) are."""
        record = {**record, "make_run": identity(os.getpid()),
                  "services": {name: identity(pid) for name, pid in service_pids.items()}}
        self.path.write_text(json.dumps(record, indent=2))

    def read(self):
        """The record of the make run that runs now, or None: none ran here, it ended, or it was
        killed and left the file behind (stale: its pid is no longer make run)."""
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return record if is_still(record.get("make_run")) else None

    def remove(self):
        self.path.unlink(missing_ok=True)


def live_run(state_dir=STATE_DIR):
    """The record of a running make run (its ports, where its traces are), or None."""
    return RunFile(state_dir).read()


def service_pid(run, service_name):
    """The pid of `service_name`'s gunicorn master in the live run `run`, checked to be still the
    one make run started; NotRunning otherwise (never a pid to signal blindly)."""
    recorded = (run or {}).get("services", {}).get(service_name)
    if not is_still(recorded):
        raise NotRunning(f"the {service_name} make run started is not running any more")
    return recorded["pid"]


def exporting_to(endpoint):
    """The environment that sends a process's spans to make run's receiver at `endpoint`."""
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": EXPORT_DELAY_MS}
