"""`make run` as a learner starts it, for the tests that need the whole of it (the labs, the trace
pages): `python -m runtime` on free ports, its state in a folder of the test's."""

import contextlib
import io
import os
import subprocess
import sys

import requests

from labs.__main__ import main as labs_main
from runtime.processes import REPO, free_port, free_ports, terminate_and_wait
from tests.helpers import poll_until


class MakeRun:
    """`python -m runtime` on free ports, as `make run` runs it, with its state in `folder` (and
    its SQLite database, unless `env` says another DATABASE_URL)."""

    def __init__(self, folder, **env_of_the_shell):
        self.folder = folder
        ports = free_ports(3)
        self.die_service, self.roller, self.frontend = (f"http://127.0.0.1:{port}" for port in ports)
        self.tempo = f"http://127.0.0.1:{free_port()}"
        # Its Prometheus and Alertmanager, when installed (runtime/prometheus_stack.py): never compose's ports.
        self.prometheus_port, self.alertmanager_port = free_ports(2)
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        env.update({"OTEL_SDK_DISABLED": "false", "ROLL_MAX_DELAY_SECONDS": "0.05",
                    "DATABASE_URL": f"sqlite:///{folder / 'dice.sqlite3'}", **env_of_the_shell})
        self.log = open(folder / "run.log", "wb")  # noqa: SIM115 (open as long as the process)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "--ports", ",".join(map(str, ports)), "--tempo-port",
             self.tempo.rsplit(":", 1)[1], "--pyroscope-port", str(free_port()), "--state-dir", str(folder),
             "--prometheus-port", str(self.prometheus_port), "--alertmanager-port", str(self.alertmanager_port)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=self.log,
        )

    def wait_until_up(self):
        def up():
            return all(requests.get(f"{url}/readyz", timeout=1).ok for url in (self.die_service, self.frontend)) \
                and (self.folder / "run.json").exists()

        assert poll_until(up, timeout=30), (self.folder / "run.log").read_text()

    def labs(self, *arguments):
        """`python -m labs ARGUMENTS` as a learner types it, run in this process (the command line's
        own main, a subprocess's start-up spared): its exit code and what it printed."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = labs_main(["--state-dir", str(self.folder), *arguments])
        return subprocess.CompletedProcess(arguments, code, out.getvalue(), err.getvalue())

    def labs_in_a_process(self, *arguments):
        return subprocess.run([sys.executable, "-m", "labs", "--state-dir", str(self.folder), *arguments],
                              cwd=REPO, capture_output=True, text=True, timeout=60)

    def stop(self):
        terminate_and_wait(self.process, timeout=30)
        self.log.close()
