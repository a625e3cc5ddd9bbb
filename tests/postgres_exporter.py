"""Debian's prometheus-postgres-exporter, started by the dashboard test beside the run's
PostgreSQL (harness/postgres.py): what compose's postgres-exporter does."""

import subprocess
import time

import requests

from harness.ports import free_port
from harness.stack import terminate_and_wait


class PostgresExporter:
    """Debian's prometheus-postgres-exporter on a free loopback port, reading `server`: what
    compose's postgres-exporter does, for the dashboard's PostgreSQL panels."""

    def __init__(self, server):
        self.address = f"127.0.0.1:{free_port()}"
        self._source = f"{server.url}?sslmode=disable"
        self.process = None

    def start(self, timeout=15.0):
        self.process = subprocess.Popen(
            ["prometheus-postgres-exporter", f"--web.listen-address={self.address}"],
            env={"DATA_SOURCE_NAME": self._source}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if "pg_up 1" in requests.get(f"http://{self.address}/metrics", timeout=1).text:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("prometheus-postgres-exporter did not start")

    def stop(self):
        if self.process:
            terminate_and_wait(self.process, timeout=10)
