"""The three services as real gunicorn processes on free loopback ports, for the tests and the
benchmark: started exactly as make run starts them (runtime/launcher/gunicorn.py), each logging
to a file of the test's."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from harness.ports import free_ports
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND
from runtime.launcher.gunicorn import GUNICORN_CONFIG, freeze, resume, says_it_listens, start_gunicorn


def terminate_and_wait(process, timeout=15.0):
    """SIGTERM to a child process, and SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ServiceProcess:
    """One service under gunicorn, started the way `make run` starts it."""

    def __init__(self, entry_point, env, log_dir, name, port=None, config=GUNICORN_CONFIG):
        self.entry_point = entry_point
        self.config = config
        self.name = name
        self.port = port or free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log_path = Path(log_dir) / f"{name}-{self.port}.log"
        self.process = None

    def start(self, wait=True):
        with open(self.log_path, "ab") as log:  # the process keeps its own copy of the file
            self.process = start_gunicorn(self.entry_point, self.port, self.env, stdout=log,
                                          stderr=subprocess.STDOUT, config=self.config)
        if wait:
            self.wait_until_healthy()
        return self

    def wait_until_healthy(self, timeout=20.0, path="/healthz"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}")
            # Ours, not another process that took the port: gunicorn says it listens there.
            listening = says_it_listens(self.log_text(), self.port, self.process.pid)
            try:
                if listening and requests.get(f"{self.url}{path}", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become healthy:\n{self.log_text()}")

    def stop(self, timeout=15.0):
        """SIGTERM: requests in flight finish and the last spans are exported."""
        self.terminate()
        self.wait_stopped(timeout)

    def terminate(self):
        """Sends SIGTERM and returns at once (wait_stopped waits)."""
        if self.process and self.process.poll() is None:
            self.resume()  # a frozen gunicorn would never see the SIGTERM
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout=15.0):
        if self.process:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pause(self):
        """Freezes gunicorn and its workers, as make freeze does: connections are accepted, never answered."""
        freeze(self.process.pid)

    def resume(self):
        resume(self.process.pid)

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self):
        return [line for line in self.log_text().splitlines() if line.strip()]

    def get(self, path, **kwargs):
        """One request on a connection of its own, closed after the answer (a kept-alive one
        would hold a stopping gunicorn for up to 2 s)."""
        kwargs.setdefault("timeout", 10)
        kwargs["headers"] = {"Connection": "close", **kwargs.get("headers", {})}
        return requests.get(self.url + path, **kwargs)


class Stack:
    """The three services as real gunicorn processes on free loopback ports."""

    # What gunicorn runs: the benchmark's bare chain (bench/floor) runs other apps the same way.
    CONFIG = GUNICORN_CONFIG
    ENTRY_POINTS = {DIE_SERVICE: DIE_SERVICE.entry_point, DICE_ROLLER: DICE_ROLLER.entry_point,
                    FRONTEND: FRONTEND.entry_point}
    FRONTEND_READY = "/readyz"

    BASE_ENV = {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_TRACES_EXPORTER": "none",
        "ROLL_MAX_DELAY_SECONDS": "0",
        "DJANGO_SECRET_KEY": "test-only-secret-key",
        "LOG_LEVEL": "INFO",
        # pytest-django exported the test settings; the real services use the real ones.
        "DJANGO_SETTINGS_MODULE": "frontend_site.settings",
    }

    def __init__(self, log_dir, **env):
        ports = free_ports(3)
        # A database of its own (SQLite, in `log_dir`) unless given: stacks never share dice.
        env = {
            **self.BASE_ENV,
            "DATABASE_URL": f"sqlite:///{Path(log_dir).resolve() / f'dice-{ports[0]}.sqlite3'}",
            **{key: str(value) for key, value in env.items()},
        }
        self.die_service = self._process(DIE_SERVICE, env, log_dir, ports[0])
        env["DIE_SERVICE_URL"] = self.die_service.url
        self.roller = self._process(DICE_ROLLER, env, log_dir, ports[1])
        env["DICE_ROLLER_URL"] = self.roller.url
        self.frontend = self._process(FRONTEND, env, log_dir, ports[2])
        self.services = [self.die_service, self.roller, self.frontend]

    def _process(self, service, env, log_dir, port):
        return ServiceProcess(self.ENTRY_POINTS[service], env, log_dir, service.name, port, self.CONFIG)

    def start(self):
        """Starts the three and waits until each is healthy; if one never is, stops all three
        before the error goes up, so that no caller is left with gunicorns it cannot stop."""
        try:
            for service in self.services:
                service.start(wait=False)
            for service in self.services:
                service.wait_until_healthy()
            # Ready as a user finds it: the frontend has its die list (it may have asked the die
            # service while that was still seeding its database, and asks again a second later).
            self.frontend.wait_until_healthy(path=self.FRONTEND_READY)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        # All three at once, callers first: a service stopped while its caller lives on would
        # wait out the caller's kept-alive connection to it (up to 2 s); a caller that stops
        # too closes its connections as it goes.
        for service in reversed(self.services):
            service.terminate()
        for service in reversed(self.services):
            service.wait_stopped()


class SharedStacks:
    """Stacks that tests only read from, one for each set of settings, started the first time a
    test asks for those settings and stopped together (tests/conftest.py keeps them for a whole
    run): `stacks.get(ROLL_MAX_DELAY_SECONDS=1)` is the same stack for every test that asks for it.
    Their tests never stop, freeze or reconfigure a service, and count only what they send
    themselves (a counter's increase, not its value): a test that does more starts its own Stack."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.stacks = {}

    def get(self, **env):
        settings = tuple(sorted((key, str(value)) for key, value in env.items()))
        if settings not in self.stacks:
            folder = self.log_dir / f"stack-{len(self.stacks)}"
            folder.mkdir(parents=True)
            self.stacks[settings] = Stack(folder, **env).start()
        return self.stacks[settings]

    def stop(self):
        for stack in self.stacks.values():
            stack.stop()
