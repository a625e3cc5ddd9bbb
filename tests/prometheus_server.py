"""A real Prometheus (Debian's package) scraping locally started services."""

import subprocess
import time
from pathlib import Path

import requests

from harness.ports import free_port
from harness.stack import terminate_and_wait
from runtime.launcher.prometheus import local_prometheus_config


def local_config(targets, scrape_interval="1s", evaluation_interval="1s", alertmanager=None):
    """The compose config with each `container:port` target pointed at a local address, the SLO
    rules loaded (make run's rewrite, runtime/launcher/prometheus.py), scraped and evaluated every second."""
    return local_prometheus_config(targets, alertmanager, scrape_interval, evaluation_interval)


def check_config(path):
    return subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)


class PrometheusServer:
    def __init__(self, config_text, work_dir):
        self.work_dir = Path(work_dir)
        self.config_path = self.work_dir / "prometheus.yml"
        self.config_path.write_text(config_text)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = self.work_dir / "prometheus.log"
        self.process = None

    def start(self, timeout=30.0):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.work_dir / 'data'}",
                    f"--web.listen-address={self.url.removeprefix('http://')}",
                    "--enable-feature=exemplar-storage",
                    "--web.enable-remote-write-receiver",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"Prometheus did not start:\n{self.log_path.read_text()}")

    def query(self, expression, at=None):
        params = {"query": expression}
        if at is not None:
            params["time"] = at
        response = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{expression}: {body}")
        return body["data"]["result"]

    def wait_for(self, expression, condition, timeout=30.0):
        deadline = time.monotonic() + timeout
        result = []
        while time.monotonic() < deadline:
            result = self.query(expression)
            if condition(result):
                return result
            time.sleep(0.5)
        return result

    def stop(self):
        if self.process:
            terminate_and_wait(self.process)
