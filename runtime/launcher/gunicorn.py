"""A service as make run, the benchmark and the tests start it: gunicorn with the one shared
configuration, exactly as the containers run it, in a process group of its own, so that one
signal reaches the master and all its workers (a freeze, a resume), and ready when gunicorn
itself says that it listens (not when just anything answers on its port)."""

import os
import signal
import subprocess
import sys

from runtime import REPO

GUNICORN_CONFIG = "ops/gunicorn.conf.py"


def gunicorn_command(entry_point, bind, config=GUNICORN_CONFIG):
    return [sys.executable, "-m", "gunicorn", "-c", config, "-b", bind, entry_point]


def start_gunicorn(entry_point, port, env, stdout, stderr, config=GUNICORN_CONFIG):
    """gunicorn serving `entry_point` on 127.0.0.1:`port`, the leader of a process group of its own."""
    return subprocess.Popen(gunicorn_command(entry_point, f"127.0.0.1:{port}", config), cwd=REPO, env=env,
                            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)


def says_it_listens(line, port, pid):
    """Whether `line` of a gunicorn's log is that gunicorn (master `pid`) saying it listens on `port`."""
    return f"Listening at: http://127.0.0.1:{port} ({pid})" in line


def freeze(pid):
    """Stops the gunicorn whose master is `pid`, and its workers (SIGSTOP to its process group):
    connections are accepted, never answered. Its workers survive any length of it
    (ops/gunicorn.conf.py, when_ready)."""
    os.killpg(pid, signal.SIGSTOP)


def resume(pid):
    os.killpg(pid, signal.SIGCONT)


def reload(pid):
    """SIGHUP to the master alone: new workers, and the die service's seed read again."""
    os.kill(pid, signal.SIGHUP)
