"""The user's scenarios, replayed against the three services as real gunicorn processes."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from harness.ports import free_port, free_ports
from harness.stack import ServiceProcess, Stack
from ops.services import DIE_SERVICE
from runtime import REPO
from tests.helpers import poll_until

pytestmark = pytest.mark.slow


def test_happy_path_through_all_three(shared_stack):
    stack = shared_stack
    response = stack.frontend.get("/roll", params={"die": "fair"})
    assert response.status_code == 200
    body = response.json()
    assert body["die"] == "fair" and body["roll"] in range(1, 7)
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"])
    assert stack.roller.get("/roll", params={"die": "fair"}).json()["roll"] in range(1, 7)
    assert stack.die_service.get("/dice").json()["identifiers"][:2] == ["fair", "risky"]
    page = stack.frontend.get("/").text
    assert '<option value="fair">' in page and '<option value="risky">' in page


def test_unknown_die_is_404_at_every_hop(shared_stack):
    stack = shared_stack
    assert stack.die_service.get("/dice", params={"identifier": "loaded"}).status_code == 404
    for service in (stack.roller, stack.frontend):
        response = service.get("/roll", params={"die": "loaded"})
        assert response.status_code == 404 and response.json()["error"] == "unknown_die"


def median_answer(service, expected_status, expected_error, tries=5):
    """The median time of a few rolls that must all fail the same way, in seconds.
    A median, so that one slow moment of a busy machine does not decide."""
    seconds = []
    for _ in range(tries):
        started = time.monotonic()
        response = service.get("/roll", params={"die": "fair"})
        seconds.append(time.monotonic() - started)
        assert response.status_code == expected_status and response.json()["error"] == expected_error
    return sorted(seconds)[tries // 2]


def test_a_stack_that_cannot_start_leaves_none_of_its_services_running(tmp_path):
    # The die service refuses a missing file (exit 4) while the other two come up healthy.
    stack = Stack(tmp_path, DIE_SPECIFICATIONS_FILE=tmp_path / "missing.json")
    with pytest.raises(RuntimeError, match="die-service exited with 4"):
        stack.start()
    assert [service.process.poll() is not None for service in stack.services] == [True, True, True]


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """A stack of this module's for the two tests below, which stop one service each and start
    it again: each leaves the three services up as it found them."""
    stack = Stack(tmp_path_factory.mktemp("restarted")).start()
    yield stack
    stack.stop()


def test_die_service_down_then_back(restarted):
    stack = restarted
    stack.die_service.stop()

    # Connection refused: answered at once, not after DIE_SERVICE_TIMEOUT_SECONDS.
    assert median_answer(stack.roller, 503, "die_service_unavailable") < 0.1
    response = stack.frontend.get("/roll", params={"die": "fair"})
    assert response.status_code == 503 and response.json()["error"] == "die_service_unavailable"
    assert stack.roller.get("/readyz").status_code == 503

    stack.die_service.start()
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200
    assert stack.roller.get("/readyz").status_code == 200


def test_roller_down_is_503_at_the_frontend_then_back(restarted):
    stack = restarted
    stack.roller.stop()
    assert median_answer(stack.frontend, 503, "dice_roller_unavailable") < 0.1

    stack.roller.start()
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200


def test_ten_concurrent_slow_rolls_take_about_one_delay(shared_slow_stack):
    stack = shared_slow_stack
    stack.frontend.get("/roll", params={"die": "fair"})  # warm the connection pools
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: stack.frontend.get("/roll", params={"die": "fair"}).status_code, range(10)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 10
    assert elapsed < 2.5, f"10 concurrent rolls took {elapsed:.2f}s: they queued"


BAD_SPECIFICATIONS = [
        (None, "DIE_SPECIFICATIONS_FILE="),  # checked with the other settings, before the file is read
        ("{oops", "not valid JSON"),
        ("[1, 2]", "must be a non-empty JSON object"),
        ('{"ok": {"faces": [1], "error_rate": 0}, "bad one": {"faces": [1], "error_rate": 0}}', "entry 'bad one'"),
        ('{"d": {"faces": [], "error_rate": 0}}', "entry 'd': \"faces\""),
        ('{"d": {"faces": [1, 2.5], "error_rate": 0}}', "entry 'd': \"faces\" must be a non-empty list of integers"),
        ('{"d": {"faces": [1], "error_rate": -0.1}}', "entry 'd': \"error_rate\""),
        ('{"d": {"faces": [1], "error_rate": 3}}', "entry 'd': \"error_rate\""),
    ]


def test_bad_specifications_file_stops_the_die_service(tmp_path):
    """Each bad file on a die service of its own, a few at a time: one CRITICAL line naming
    the file and the entry, and a non-zero exit."""

    def start_with(case):
        number, (content, _) = case
        path = tmp_path / f"dice-{number}.json"
        if content is not None:
            path.write_text(content)
        env = {"DIE_SPECIFICATIONS_FILE": str(path), "OTEL_TRACES_EXPORTER": "none"}
        service = ServiceProcess(DIE_SERVICE.entry_point, env, tmp_path, f"die-service-{number}")
        service.start(wait=False)
        try:
            return path, service.process.wait(timeout=20), service.log_lines()
        finally:
            service.stop()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(start_with, enumerate(BAD_SPECIFICATIONS)))
    for (_, problem), (path, exit_code, lines) in zip(BAD_SPECIFICATIONS, results, strict=True):
        assert exit_code != 0, problem
        critical = [m for m in map(json.loads, lines) if m["level"] == "CRITICAL"]
        assert len(critical) == 1, lines
        assert str(path) in critical[0]["message"] and problem in critical[0]["message"]


def test_local_run_starts_all_three_prints_their_traces_and_ctrl_c_stops_them(tmp_path):
    """`make run` as a newcomer runs it: no OTEL_* variable and, on this machine, no collector,
    so the traces are printed in the terminal, one tree each."""
    ports = free_ports(3)  # die service, dice roller, frontend
    frontend, tempo_port = f"http://127.0.0.1:{ports[2]}", free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(OTEL_SDK_DISABLED="false", ROLL_MAX_DELAY_SECONDS="0")  # (the test process has it off)
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'dice.sqlite3'}")  # not the checkout's var/
    with open(tmp_path / "run.log", "wb") as log, open(tmp_path / "traces.txt", "wb") as printed:
        runner = subprocess.Popen([sys.executable, "-m", "runtime", "--ports", ",".join(map(str, ports)),
                                   "--tempo-port", str(tempo_port), "--pyroscope-port", str(free_port()),
                                   "--otlp-port", str(free_port()),
                                   "--no-prometheus",  # not what is tested here (tests/test_prometheus_stack.py)
                                   "--state-dir", str(tmp_path)], cwd=REPO,
                                  env=env, stdout=printed, stderr=log,
                                  # Started as a script's background job is: SIGINT ignored. Ctrl-C
                                  # must stop it all the same (and does, of course, when not ignored).
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        answer = None

        def roll():
            nonlocal answer
            answer = requests.get(f"{frontend}/roll", params={"die": "fair"}, timeout=2)
            return answer.status_code == 200

        assert poll_until(roll, timeout=30)
        assert len(_gunicorn_processes(ports)) == 6  # a master and a worker per service
        trace_id = answer.json()["trace_id"]
        assert poll_until(lambda: trace_id in (tmp_path / "traces.txt").read_text(), timeout=10)
        # The trace is kept and served as Tempo serves it; the log lines are kept for the labs.
        kept = requests.get(f"http://127.0.0.1:{tempo_port}/api/traces/{trace_id}", timeout=2).json()
        assert sum(len(batch["scopeSpans"][0]["spans"]) for batch in kept["batches"]) == 7
        assert trace_id in (tmp_path / "logs" / "dice-roller.log").read_text()
        # The terminal shows what went wrong, one short line each; the log files every line.
        unknown = requests.get(f"{frontend}/roll", params={"die": "loaded"}, timeout=2)
        assert unknown.status_code == 404
        said = f"dice-roller  WARNING  Die service returned error  trace {unknown.json()['trace_id'][:8]}"
        assert poll_until(lambda: said in (tmp_path / "run.log").read_text(), timeout=10)
        run = json.loads((tmp_path / "run.json").read_text())
        assert run["urls"]["frontend"] == frontend and run["tempo"] == f"http://127.0.0.1:{tempo_port}"
        runner.send_signal(signal.SIGINT)
        try:
            assert runner.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:  # say where it was
            runner.send_signal(signal.SIGUSR1)
            time.sleep(1)
            pytest.fail("make run ignored Ctrl-C for 30 s; its threads:\n"
                        + (tmp_path / "run.log").read_text()[-6000:])
    finally:
        if runner.poll() is None:  # SIGTERM: the runner stops its three gunicorns on the way out
            runner.terminate()
            try:
                runner.wait(timeout=20)
            except subprocess.TimeoutExpired:
                runner.kill()
        if runner.returncode != 0:  # it died (SIGUSR1 unhandled, killed): its gunicorns may be left
            for pid in _gunicorn_processes(ports):
                os.kill(pid, signal.SIGTERM)
    for port in ports:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    assert _gunicorn_processes(ports) == []
    printed = (tmp_path / "traces.txt").read_text()
    block = printed.split(f"trace {trace_id}")[1].split("\ntrace ")[0].splitlines()
    assert block[0].split()[:2] == ["7", "spans"]
    spans = [line.split()[:2] for line in block[1:] if line.split()[0] != "·"]
    assert spans == [
        ["frontend", "SERVER"], ["frontend", "CLIENT"], ["dice-roller", "SERVER"],
        ["dice-roller", "CLIENT"], ["die-service", "SERVER"], ["die-service", "CLIENT"], ["dice-roller", "INTERNAL"],
    ]
    # Each SERVER span with the CPU it spent, from the profiles make run received (docs/telemetry.md).
    assert [block[i + 1].split()[:2] for i, line in enumerate(block) if " SERVER " in line] == [["·", "cpu"]] * 3
    terminal = (tmp_path / "run.log").read_text()
    banner = terminal.split("Dice sandbox ready")[1]
    for shown in ("the page ", "trace pages", "Tempo API", "Pyroscope API", "OTLP receiver", "log files",
                  "this terminal", "Ctrl-C"):
        assert shown in banner, banner
    assert not [line for line in terminal.splitlines() if line.startswith("{")]  # no JSON line, no INFO line
    assert "Roll completed" not in terminal
    assert "make run: stopping everything it started." in terminal  # Ctrl-C is answered
    roller_lines = (tmp_path / "logs" / "dice-roller.log").read_text().splitlines()
    assert all(json.loads(line) for line in roller_lines) and any("Roll completed" in line for line in roller_lines)
    assert not (tmp_path / "run.json").exists()


def _gunicorn_processes(ports):
    """PIDs of the gunicorn processes bound to these ports (free ones, so ours alone)."""
    binds = {f"127.0.0.1:{port}" for port in ports}
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"gunicorn" in b" ".join(args) and any(arg.decode(errors="replace") in binds for arg in args):
            found.append(int(proc.name))
    return found


def test_a_die_added_to_the_file_appears_after_a_hup_with_nothing_else_restarted(tmp_path, start_stack):
    """docs/compose.md "Add a die", the local way: HUP makes the die service's gunicorn start new
    workers, which read the file again; the frontend's list follows within its max age."""
    spec_file = tmp_path / "dice.json"
    dice = json.loads((REPO / "diespec/die_specifications.json").read_text())
    spec_file.write_text(json.dumps(dice))
    stack = start_stack(DIE_SPECIFICATIONS_FILE=spec_file, DIE_LIST_MAX_AGE_SECONDS=1)
    boots_before = {s.name: _boots(s) for s in (stack.roller, stack.frontend)}
    assert "d12" not in stack.frontend.get("/").text

    spec_file.write_text(json.dumps({**dice, "d12": {"faces": list(range(1, 13)), "error_rate": 0}}))
    stack.die_service.process.send_signal(signal.SIGHUP)

    assert poll_until(lambda: "d12" in stack.die_service.get("/dice").json()["identifiers"])
    assert poll_until(lambda: '<option value="d12">' in stack.frontend.get("/").text)
    # The page follows the die service at once; a roll that close behind the HUP sometimes meets
    # the swap of its workers (503 die_service_unavailable, about one in five here): the next one rolls.
    assert poll_until(lambda: stack.frontend.get("/roll", params={"die": "d12"}).json().get("roll") in range(1, 13))
    for service in (stack.roller, stack.frontend):
        assert service.process.poll() is None and _boots(service) == boots_before[service.name], service.name


def _boots(service):
    return sum("Booting worker" in line for line in service.log_lines())
