"""What /proc tells of a gunicorn service, its master and its workers together:
peak resident memory, and CPU time used."""

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    """{"master": MB, "worker": MB of the largest worker}, from VmHWM (the peak resident set)."""
    workers = [_peak(child) for child in children(pid)]
    return {"master": _peak(pid), "worker": max(workers, default=None)}


def cpu_seconds(pid):
    """User plus system CPU time of the master and its live workers."""
    total = 0.0
    for process in (pid, *children(pid)):
        fields = _stat(process)
        if fields:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _peak(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _stat(pid):
    """The fields of /proc/<pid>/stat after the command, which may hold spaces and ")"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(pid):
    """The PIDs of `pid`'s child processes (a gunicorn master's workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(stat.parent.name)
        if fields and int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children
