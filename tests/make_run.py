"""`make run` as a learner starts it, for the tests that need the whole of it (the labs, the trace
pages): `python -m runtime` on free ports, its state in a folder of the test's."""

import contextlib
import io
import json
import os
import socket
import subprocess
import sys

import requests

from harness.ports import free_port, free_ports
from harness.stack import terminate_and_wait
from labs.__main__ import main as labs_main
from runtime import REPO
from tests.helpers import poll_until


class MakeRun:
    """`python -m runtime` on free ports, as `make run` runs it, with its state in `folder` (and
    its SQLite database, unless `env` says another DATABASE_URL)."""

    def __init__(self, folder, otlp_port=None, prometheus=True, **env_of_the_shell):
        """`otlp_port`: where its OTLP receiver is asked to listen (a free port unless given;
        make run's own default, 4318, with "default"). `prometheus=False`: `--no-prometheus`, for
        the tests that read no Prometheus (it and its Alertmanager cost a second of CPU to start)."""
        self.folder = folder
        ports = free_ports(3)
        self.ports = ports
        self.die_service, self.roller, self.frontend = (f"http://127.0.0.1:{port}" for port in ports)
        self.tempo = f"http://127.0.0.1:{free_port()}"
        otlp = [] if otlp_port == "default" else ["--otlp-port", str(otlp_port or free_port())]
        # Its Prometheus and Alertmanager, when installed (runtime/launcher/prometheus.py): never compose's ports.
        self.prometheus_port, self.alertmanager_port = free_ports(2)
        alerting = ["--prometheus-port", str(self.prometheus_port), "--alertmanager-port", str(self.alertmanager_port)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        env.update({"OTEL_SDK_DISABLED": "false", "ROLL_MAX_DELAY_SECONDS": "0.05",
                    "DATABASE_URL": f"sqlite:///{folder / 'dice.sqlite3'}", **env_of_the_shell})
        self.log = open(folder / "run.log", "wb")  # noqa: SIM115 (open as long as the process)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "--ports", ",".join(map(str, ports)), "--tempo-port",
             self.tempo.rsplit(":", 1)[1], "--pyroscope-port", str(free_port()), *otlp, "--state-dir", str(folder),
             *(alerting if prometheus else ["--no-prometheus"])],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=self.log,
            start_new_session=True,  # as a terminal's job: its signals reach make run alone, never its gunicorns
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

    def run_file(self):
        return json.loads((self.folder / "run.json").read_text())

    def stop(self):
        """SIGTERM, as a service manager stops it: everything it started stops with it."""
        terminate_and_wait(self.process, timeout=30)
        self.log.close()
        for port in self.ports:  # nothing left listening
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                raise AssertionError(f"make run left port {port} open:\n{(self.folder / 'run.log').read_text()}")
        assert not (self.folder / "run.json").exists(), "make run left its run file behind"
