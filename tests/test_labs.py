"""The labs, played as a learner would under `make run`: start a lab, find the answer from the
telemetry alone (make run's Tempo API, the services' /metrics, the log files it keeps — never
the lab's own state), check it (exit 0), check a wrong one (exit 1, a hint that does not give the
answer away), and stop it (no traffic left, nothing frozen)."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from labs.traces import own_ms, spans_of
from runtime.processes import REPO, free_port, free_ports
from runtime.trace_view import DEFAULT_COLLECTOR, listening
from tests.helpers import poll_until

pytestmark = pytest.mark.slow


class MakeRun:
    """`python -m runtime` on free ports, as `make run` runs it, with its state in `folder`."""

    def __init__(self, folder):
        self.folder = folder
        ports = free_ports(3)
        self.die_service, self.roller, self.frontend = (f"http://127.0.0.1:{port}" for port in ports)
        self.tempo = f"http://127.0.0.1:{free_port()}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        env.update(OTEL_SDK_DISABLED="false", ROLL_MAX_DELAY_SECONDS="0.05",
                   DATABASE_URL=f"sqlite:///{folder / 'dice.sqlite3'}")
        self.log = open(folder / "run.log", "wb")  # noqa: SIM115 (open as long as the process)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "--ports", ",".join(map(str, ports)), "--tempo-port",
             self.tempo.rsplit(":", 1)[1], "--state-dir", str(folder)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=self.log,
        )

    def wait_until_up(self):
        def up():
            return all(requests.get(f"{url}/readyz", timeout=1).ok for url in (self.die_service, self.frontend)) \
                and (self.folder / "run.json").exists()

        assert poll_until(up, timeout=30), (self.folder / "run.log").read_text()

    def labs(self, *arguments):
        return subprocess.run([sys.executable, "-m", "labs", "--state-dir", str(self.folder), *arguments],
                              cwd=REPO, capture_output=True, text=True, timeout=60)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    # ---- what a learner reads: Tempo's API, /metrics, the log files

    def search(self, **params):
        return requests.get(f"{self.tempo}/api/search", params=params, timeout=5).json()["traces"]

    def trace(self, trace_id):
        return spans_of(requests.get(f"{self.tempo}/api/traces/{trace_id}", timeout=5).json())

    def find_trace(self, matches, timeout=20, **params):
        """The first trace of a search whose spans `matches(spans)`: (trace id, spans)."""
        found = {}

        def look():
            for summary in self.search(**params):
                spans = self.trace(summary["traceID"])
                if matches(spans):
                    found["trace"] = (summary["traceID"], spans)
                    return True
            return False

        assert poll_until(look, timeout=timeout, interval=0.5), f"no trace matched a search of {params}"
        return found["trace"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if listening(DEFAULT_COLLECTOR):
        pytest.skip(f"something listens at {DEFAULT_COLLECTOR}: make run would send it the traces")
    sandbox = MakeRun(tmp_path_factory.mktemp("labs"))
    try:
        sandbox.wait_until_up()
        yield sandbox
    finally:
        sandbox.labs("stop", active_lab(sandbox) or "slow-hop")
        sandbox.stop()


def active_lab(run):
    state = run.folder / "labs" / "state.json"
    active = json.loads(state.read_text())["active"] if state.exists() else None
    return active and active["name"]


def traffic_pid(run):
    """The lab's background traffic, read back only to prove that `stop` ended it."""
    return json.loads((run.folder / "labs" / "state.json").read_text())["active"]["situation"]["traffic_pid"]


def gone(pid):
    stat = f"/proc/{pid}/stat"
    return not os.path.exists(stat) or open(stat).read().split(") ")[-1][:1] == "Z"


def right_then_wrong(run, lab, right, wrong, never_in_hint):
    checked = run.labs("check", lab, *right)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Why it matters" in checked.stdout
    refused = run.labs("check", lab, *wrong)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stdout.startswith("Not yet.") and never_in_hint not in refused.stdout


def stop(run, lab):
    pid = traffic_pid(run)
    assert run.labs("stop", lab).returncode == 0
    assert poll_until(lambda: gone(pid), timeout=10)
    assert run.labs("stop", lab).returncode == 0  # safe twice
    assert f"{lab}" in run.labs("list").stdout and active_lab(run) is None


def test_the_list_and_a_lab_not_started(run):
    listed = run.labs()
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[:6]] == [
        "slow-hop", "failing-die", "slowest-in-batch", "dependency-down", "logs-for-a-trace", "slow-query"]
    shown = run.labs("show", "slow-query")
    assert "Goal:" in shown.stdout and "Where to look:" in shown.stdout and "--span-name NAME" in shown.stdout
    not_started = run.labs("check", "slow-query", "--trace-id", "0" * 32, "--span-name", "x")
    assert not_started.returncode == 2 and "python -m labs start slow-query" in not_started.stderr


def test_slow_hop(run):
    assert run.labs("start", "slow-hop").returncode == 0

    def slow(spans):
        return spans and max(own_ms(span, spans) for span in spans if span.kind == "SERVER") >= 1000

    trace_id, spans = run.find_trace(slow, minDuration="1s")
    servers = [span for span in spans if span.kind == "SERVER"]
    culprit = max(servers, key=lambda span: own_ms(span, spans)).service
    other = next(name for name in ("frontend", "dice-roller", "die-service") if name != culprit)
    right_then_wrong(run, "slow-hop", ["--service", culprit, "--trace-id", trace_id],
                     ["--service", other, "--trace-id", trace_id], culprit)
    stop(run, "slow-hop")


def test_failing_die_from_the_metrics(run):
    assert run.labs("start", "failing-die").returncode == 0

    def rolls():
        """{die: {result: count}} of the roller's dice_rolls_total."""
        found = {}
        for line in requests.get(f"{run.roller}/metrics", timeout=5).text.splitlines():
            if line.startswith("dice_rolls_total{"):
                labels = dict(part.split("=") for part in line[line.index("{") + 1:line.index("}")].split(","))
                die, result = labels["die_type"].strip('"'), labels["result"].strip('"')
                found.setdefault(die, {})[result] = float(line.rsplit(" ", 1)[1])
        return found

    def shares():
        return {die: counts.get("error", 0) / sum(counts.values()) for die, counts in rolls().items()
                if sum(counts.values()) >= 40}

    assert poll_until(lambda: max(shares().values(), default=0) >= 0.15 and len(shares()) >= 3, timeout=40)
    failing = max(shares(), key=shares().get)
    rate = shares()[failing]
    right_then_wrong(run, "failing-die", ["--die", failing, "--error-rate", f"{rate:.2f}"],
                     ["--die", failing, "--error-rate", f"{min(rate + 0.2, 1):.2f}"], f"{rate:.2f}")
    stop(run, "failing-die")
    assert failing not in requests.get(f"{run.die_service}/dice", timeout=5).json()["identifiers"]


def test_slowest_in_batch(run):
    assert run.labs("start", "slowest-in-batch").returncode == 0

    def batch(spans):
        return len([span for span in spans if span.name == "roll die"]) >= 3

    trace_id, spans = run.find_trace(batch, tags="http.route=/roll-async")
    rolls = sorted((span for span in spans if span.name == "roll die"), key=lambda span: span.ms)
    slowest, other = rolls[-1].attributes["die.roll_index"], rolls[0].attributes["die.roll_index"]
    right_then_wrong(run, "slowest-in-batch", ["--trace-id", trace_id, "--roll-index", str(slowest)],
                     ["--trace-id", trace_id, "--roll-index", str(other)], f"roll {slowest}")
    stop(run, "slowest-in-batch")


def test_dependency_down(run):
    started = time.time()
    assert run.labs("start", "dependency-down").returncode == 0

    def failed_roll(spans):
        return any(span.service == "dice-roller" and span.kind == "CLIENT" and span.status == "ERROR" for span in spans)

    trace_id, spans = run.find_trace(failed_roll, minDuration="1s", start=int(started))
    [frontend] = [span for span in spans if (span.service, span.kind) == ("frontend", "SERVER")]
    [call] = [span for span in spans if (span.service, span.kind) == ("dice-roller", "CLIENT")]
    status, waited = frontend.attributes["http.response.status_code"], call.ms
    right_then_wrong(run, "dependency-down", ["--status", str(status), "--waited-ms", f"{waited:.0f}"],
                     ["--status", "500", "--waited-ms", f"{waited:.0f}"], str(status))
    stop(run, "dependency-down")
    assert requests.get(f"{run.die_service}/healthz", timeout=2).ok  # resumed


def test_logs_for_a_trace(run):
    started = run.labs("start", "logs-for-a-trace")
    assert started.returncode == 0
    [trace_id] = [line.split()[-1] for line in started.stdout.splitlines() if line.startswith("The failed batch")]

    def logged():
        for line in (run.folder / "logs" / "dice-roller.log").read_text().splitlines():
            if trace_id in line and "Async roll batch failed" in line:
                return json.loads(line)["failed"]
        return None

    assert poll_until(lambda: logged() is not None, timeout=10)
    failed = logged()
    right_then_wrong(run, "logs-for-a-trace", ["--failed", str(failed)], ["--failed", str(failed + 1)],
                     f"failed={failed}")
    assert run.labs("stop", "logs-for-a-trace").returncode == 0


def test_slow_query(run):
    assert run.labs("start", "slow-query").returncode == 0

    def slow_query(spans):
        return any(span.kind == "CLIENT" and "db.system.name" in span.attributes and span.ms >= 300 for span in spans)

    trace_id, spans = run.find_trace(slow_query, minDuration="300ms")
    [query] = [span for span in spans if span.kind == "CLIENT" and "db.system.name" in span.attributes]
    right_then_wrong(run, "slow-query", ["--trace-id", trace_id, "--span-name", query.name],
                     ["--trace-id", trace_id, "--span-name", "GET /dice"], query.name)
    stop(run, "slow-query")


def test_starting_a_second_lab_stops_the_first(run):
    assert run.labs("start", "slowest-in-batch").returncode == 0
    first = traffic_pid(run)
    assert run.labs("start", "slow-query").returncode == 0
    assert poll_until(lambda: gone(first), timeout=10) and active_lab(run) == "slow-query"
    stop(run, "slow-query")


def test_no_sandbox_running_cannot_be_checked(tmp_path):
    if listening("http://localhost:9090"):
        pytest.skip("a compose stack (or another Prometheus) runs here")
    (tmp_path / "labs").mkdir()
    (tmp_path / "labs" / "state.json").write_text(json.dumps(
        {"active": {"name": "slow-query", "situation": {"delay_ms": 500}}, "solved": []}))
    checked = subprocess.run(
        [sys.executable, "-m", "labs", "--state-dir", str(tmp_path), "check", "slow-query", "--trace-id", "0" * 32,
         "--span-name", "x"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2 and "make run" in checked.stderr
