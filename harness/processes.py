"""A process's state as the tests read it, on Linux and macOS alike (psutil)."""

import psutil


def is_stopped(pid):
    """Whether process `pid` is stopped (SIGSTOP: frozen)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.NoSuchProcess:
        return False


def is_running(pid):
    """Whether process `pid` exists and has not ended (a zombie, ended but not reaped, has)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
