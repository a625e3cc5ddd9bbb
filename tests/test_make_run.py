"""make run as a local backend a learner can trust (docs/development.md, "make run as a local
backend"): a closed terminal stops everything it started, a port another process holds stops it
before any banner, a frozen service resumes with the same workers, and any program exporting
OTLP with the default settings lands in its trees."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import requests

from backend_apis.tempo import spans_of
from harness.ports import free_port, free_ports
from harness.processes import is_running
from harness.stack import ServiceProcess
from ops.services import DIE_SERVICE
from runtime import REPO
from runtime.backends.otlp import OTLP_HTTP_PORT
from tests.helpers import poll_until, scrape, value
from tests.make_run import MakeRun

pytestmark = pytest.mark.slow


# A learner's own program, exporting with the OpenTelemetry defaults: no endpoint set anywhere.
LEARNERS_APP = textwrap.dedent("""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "learners-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    with provider.get_tracer("learner").start_as_current_span("my first span") as span:
        print(format(span.get_span_context().trace_id, "032x"))
    provider.shutdown()
""")


def test_the_otlp_default_lands_in_make_run_and_a_closed_terminal_stops_everything(tmp_path):
    """One make run, as a newcomer's: its receiver where every exporter sends by default, a plain
    SDK's span found there; then its terminal closed (SIGHUP to its process group)."""
    run = MakeRun(tmp_path, otlp_port="default")
    try:
        run.wait_until_up()
        recorded = run.run_file()
        if recorded["otlp"] == f"http://127.0.0.1:{OTLP_HTTP_PORT}":
            assert recorded["otlp"] == f"http://127.0.0.1:{OTLP_HTTP_PORT}"
            assert poll_until(lambda: "the OTLP default: your app's traces land here too"
                              in (tmp_path / "run.log").read_text())
            shell = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
            exported = subprocess.run([sys.executable, "-c", LEARNERS_APP], cwd=REPO, env=shell, capture_output=True,
                                      text=True, timeout=60, check=True)
            trace_id = exported.stdout.strip()
            assert poll_until(lambda: requests.get(f"{run.tempo}/api/traces/{trace_id}", timeout=2).ok, timeout=15)
            [span] = spans_of(requests.get(f"{run.tempo}/api/traces/{trace_id}", timeout=2).json())
            assert (span.service, span.name) == ("learners-app", "my first span")
        else:  # another make run (or a collector) has 4318: a free port, and the banner says which
            assert poll_until(lambda: f"port {OTLP_HTTP_PORT} was taken" in (tmp_path / "run.log").read_text())
        started = [service["pid"] for service in recorded["services"].values()]
        workers = [child.pid for pid in started for child in psutil.Process(pid).children()]
        assert len(started) == 3 and len(workers) >= 3

        os.killpg(run.process.pid, signal.SIGHUP)  # what a terminal does to its jobs as it closes
        assert run.process.wait(timeout=30) == 0
        assert not any(is_running(pid) for pid in started + workers)
        assert not (tmp_path / "run.json").exists()
    finally:
        run.stop()  # asserts that nothing listens on its ports any more


def test_a_port_another_process_holds_stops_make_run_before_any_banner(tmp_path):
    ports = free_ports(3)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[0]))
        squatter.listen()
        started = subprocess.run(
            [sys.executable, "-m", "runtime", "--ports", ",".join(map(str, ports)), "--otlp-port", str(free_port()),
             "--tempo-port", str(free_port()), "--pyroscope-port", str(free_port()), "--state-dir", str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert started.returncode == 1
    [line] = started.stderr.strip().splitlines()  # one line: the port, whose it is, what to do
    assert f"port {ports[0]} ({DIE_SERVICE.name}) is taken by python" in line and f"pid {os.getpid()}" in line
    assert "Dice sandbox" not in started.stderr + started.stdout
    assert not (tmp_path / "run.json").exists()


def test_a_frozen_service_resumes_with_the_same_workers_and_counters(tmp_path):
    """Frozen as make freeze and a paused container freeze it, master and workers together, for
    longer than gunicorn's worker timeout (shortened here, as GUNICORN_CMD_ARGS may): no WORKER
    TIMEOUT, the same worker, its counters kept."""
    service = ServiceProcess(DIE_SERVICE.entry_point, {
        "OTEL_SDK_DISABLED": "true", "GUNICORN_CMD_ARGS": "--timeout 3",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dice.sqlite3'}"}, tmp_path, DIE_SERVICE.name).start()
    try:
        for _ in range(5):
            assert service.get("/dice").status_code == 200
        [worker] = psutil.Process(service.process.pid).children()
        counted = value(scrape(service), "http_requests_total", method="GET", route="/dice", status="200")
        service.pause()
        time.sleep(6)  # twice the timeout
        service.resume()
        assert service.get("/dice", timeout=10).status_code == 200
        time.sleep(4)  # a master that judged its workers late would have killed this one by now
        assert [child.pid for child in psutil.Process(service.process.pid).children()] == [worker.pid]
        assert value(scrape(service), "http_requests_total", method="GET", route="/dice", status="200") == counted + 1
        assert "WORKER TIMEOUT" not in service.log_text()
    finally:
        service.stop()
