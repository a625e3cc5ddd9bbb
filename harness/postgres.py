"""A real, throw-away PostgreSQL (Debian's package) on a free loopback port, in a temporary
folder of its own that is removed when it stops: for the tests and the benchmark. PostgreSQL
refuses to run as root: as root, the cluster belongs to the `postgres` user and its commands
run as that user."""

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.ports import free_port

DATABASE = "dice"


def postgres_bin_dir():
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self):
        self.bin_dir = postgres_bin_dir()
        if self.bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: scripts/install-system-packages.sh installs it")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"
        self.work_dir = None
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, program, *args, check=True):
        command = [str(self.bin_dir / program), *args]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    @property
    def data_dir(self):
        return self.work_dir / "data"

    def start(self):
        # Not under pytest's tmp_path: its parents are root's alone, and the server runs as postgres.
        self.work_dir = Path(tempfile.mkdtemp(prefix="dice-postgres-"))
        if self._user:
            shutil.chown(self.work_dir, self._user, self._user)
        try:
            self._run("initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "--no-sync")
            self.pg_ctl_start()
            self.psql_admin(f"CREATE DATABASE {DATABASE}")
        except BaseException:
            self.stop()
            raise
        return self

    def pg_ctl_start(self):
        options = f"-p {self.port} -k {self.work_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-l", str(self.work_dir / "server.log"),
                  "-o", options, "start")

    def pg_ctl_stop(self):
        """Stops the server at once (connections cut), keeping its data: `pg_ctl_start` again."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", "immediate", "stop", check=False)

    def begin_smart_shutdown(self):
        """Starts a smart shutdown and returns at once: the server waits for the sessions open and
        meanwhile refuses new ones ("the database system is shutting down"). `pg_ctl_stop` ends it."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "smart", "-W", "stop")

    def postmaster_pid(self):
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def pause(self):
        """Freezes the server and its backends: connections are accepted, never answered."""
        self._signal_all(signal.SIGSTOP)

    def resume(self):
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, sig):
        # A backend may end between pgrep and kill: the others (the server first) still get it.
        for pid in self._server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _server_pids(self):
        parent = self.postmaster_pid()
        children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        return [parent, *map(int, children)]

    def create_database(self, name):
        """A new, empty database on this server; its URL."""
        self.psql_admin(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def psql(self, sql, database=DATABASE):
        """Runs `sql` as a learner would with psql; returns what it printed."""
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def psql_admin(self, sql):
        return self.psql(sql, database="postgres")

    def stop(self):
        if self.work_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(OSError, ValueError):  # the server may be ending already
                self.resume()
            self.pg_ctl_stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir = None
