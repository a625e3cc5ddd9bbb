"""The labs, played as a learner would under `make run`: start a lab, find the answer from the
telemetry alone (make run's Tempo API, the services' /metrics, the log files it keeps — never
the lab's own state), check it (exit 0), check a wrong one (exit 1, a hint that does not give the
answer away), and stop it (no traffic left, nothing frozen). While each lab runs, nothing a learner
reads names its cause: no span, event, log line, metric or process argument."""

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import requests

from backend_apis.logs import json_lines, log_file
from backend_apis.tempo import spans_of
from harness.ports import free_port
from harness.processes import is_running, is_stopped
from labs.sandbox import Sandbox, Unreachable
from ops.services import SERVICES
from runtime import REPO
from runtime.launcher.control import main as control_main
from stackcheck.learner import SOLVERS
from tests.helpers import poll_until
from tests.make_run import MakeRun

pytestmark = pytest.mark.slow


def started_make_run(folder, prometheus):
    sandbox = MakeRun(folder, prometheus=prometheus)
    try:
        sandbox.wait_until_up()
        yield sandbox
    finally:
        sandbox.labs("stop", active_lab(sandbox) or "slow-hop")
        sandbox.stop()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """make run without its Prometheus: only budget-burn reads that (run_with_prometheus)."""
    yield from started_make_run(tmp_path_factory.mktemp("labs"), prometheus=False)


@pytest.fixture(scope="module")
def run_with_prometheus(tmp_path_factory):
    yield from started_make_run(tmp_path_factory.mktemp("labs-prometheus"), prometheus=True)


def active_lab(run):
    state = run.folder / "labs" / "state.json"
    active = json.loads(state.read_text())["active"] if state.exists() else None
    return active and active["name"]


def traffic_pid(run):
    """The lab's background traffic, read back only to prove that `stop` ended it."""
    started = json.loads((run.folder / "labs" / "state.json").read_text())["active"]["situation"].get("traffic_pid")
    return started and started["pid"]


def gone(pid):
    return not pid or not is_running(pid)


def stop(run, lab):
    pid = traffic_pid(run)
    assert run.labs("stop", lab).returncode == 0
    assert poll_until(lambda: gone(pid), timeout=10)
    assert run.labs("stop", lab).returncode == 0  # safe twice
    assert active_lab(run) is None


def test_the_list_and_a_lab_not_started(run):
    listed = run.labs_in_a_process()  # the command line itself, once
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[:7]] == [
        "slow-hop", "failing-die", "slowest-in-batch", "dependency-down", "logs-for-a-trace", "slow-query",
        "cpu-or-wait"]
    shown = run.labs("show", "slow-query")
    assert "Goal:" in shown.stdout and "Where to look:" in shown.stdout and "--span-name NAME" in shown.stdout
    not_started = run.labs("check", "slow-query", "--trace-id", "0" * 32, "--span-name", "x")
    assert not_started.returncode == 2 and "python -m labs start slow-query" in not_started.stderr


# budget-burn reads make run's Prometheus, which scrapes every 15 s: a minute or two, for make test-e2e.
@pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.e2e) if lab == "budget-burn" else lab
                                 for lab in SOLVERS])
def test_each_lab_is_solved_from_the_telemetry_alone(request, lab):
    run = request.getfixturevalue("run_with_prometheus" if lab == "budget-burn" else "run")
    since = time.time()
    started = run.labs("start", lab)
    assert started.returncode == 0, started.stderr
    briefing = started.stdout  # what start printed: a lab's trace id or dice
    # The learner: Tempo's API, /metrics and the log files, through the labs' readers; never the lab's state.
    right, wrong, never_in_hint = SOLVERS[lab](Sandbox.find(run.folder), since, briefing)
    checked = run.labs("check", lab, *right)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Why it matters" in checked.stdout
    refused = run.labs("check", lab, *wrong)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stdout.startswith("Wrong: ") and never_in_hint not in refused.stdout
    assert_nothing_names_the_cause(run, since)
    dice = re.findall(r"[a-z]+-\d{3}", briefing) if lab == "failing-die" else []
    assert all(f'value="{die}"' in requests.get(run.frontend, timeout=10).text for die in dice)
    stop(run, lab)
    # The page follows stop at once: the very next one offers none of the dice the lab removed.
    assert not any(f'value="{die}"' in requests.get(run.frontend, timeout=10).text for die in dice)
    assert requests.get(f"{run.die_service}/healthz", timeout=2).ok  # nothing left frozen
    assert "solved" in next(line for line in run.labs("list").stdout.splitlines() if line.startswith(lab))


# A fault as the labs choose one (delay:1650, cpu:550): in no argument or environment of a process.
FAULT_SPEC = re.compile(r"\b(delay|cpu|error):\d+")
# What names a fault in telemetry: `fault injected`, fault.kind, "Fault injected", lab-fault.x (not "default").
FAULT_WORD = re.compile(r"(?<![a-z])fault", re.IGNORECASE)


def assert_nothing_names_the_cause(run, since):
    """Every span of every trace since the lab began, every event and attribute, every log line,
    the fault counters and the command lines and environments of make run's and the lab's
    processes: none says where the lab's fault is or what it does."""
    sandbox = Sandbox.find(run.folder)
    for summary in sandbox.search(start=int(since), limit=100_000):
        for span in spans_of(sandbox.get_trace(summary["traceID"])):
            told = [span.name, *map(str, span.attributes), *map(str, span.attributes.values())]
            told += [f"{name} {attributes}" for name, attributes in span.events]
            assert not [text for text in told if FAULT_WORD.search(text)], (span.name, told)
    situation = json.loads((run.folder / "labs" / "state.json").read_text())["active"]["situation"]
    for service in SERVICES:
        for line in json_lines(log_file(run.folder / "logs", service.name), ""):
            assert not FAULT_WORD.search(json.dumps(line)), line
        if service.name not in situation.get("frozen", []):  # a frozen one answers no scrape
            assert not any(sandbox.counter_values(service.name, "faults_injected_total").values()), service.name
    ours = psutil.Process(run.process.pid).children(recursive=True)
    if situation.get("traffic_pid"):
        traffic = psutil.Process(situation["traffic_pid"]["pid"])
        ours += [traffic, *traffic.children(recursive=True)]
    for process in ours:
        with contextlib.suppress(psutil.NoSuchProcess):
            command, environment = process.cmdline(), process.environ()
            shown = " ".join([*command, *environment.values()])
            assert "--fault" not in command and not FAULT_SPEC.search(shown), command


def test_starting_a_second_lab_stops_the_first(run):
    """The first froze the die service: starting the second resumes it (and ends its traffic)."""
    assert run.labs("start", "dependency-down").returncode == 0
    first = traffic_pid(run)
    started = run.labs("start", "slow-query")
    assert started.returncode == 0, started.stderr
    assert poll_until(lambda: gone(first), timeout=10) and active_lab(run) == "slow-query"
    assert requests.get(f"{run.die_service}/healthz", timeout=5).ok  # resumed
    stop(run, "slow-query")


def test_a_search_tempo_refuses_says_what_it_refused_not_that_tempo_is_gone(run):
    sandbox = Sandbox.find(run.folder)
    with pytest.raises(Unreachable, match=r"refused /api/search \(400: .*soon"):
        sandbox.search(minDuration="soon")
    for start in (int(time.time()) - 600, int(time.time())):  # no 400: an end goes too, after the start
        assert isinstance(sandbox.search(minDuration="1ms", start=start), list)


def test_no_sandbox_running_cannot_be_checked(tmp_path):
    if requests_ok("http://localhost:9090/-/ready"):
        pytest.skip("a compose stack (or another Prometheus) runs here")
    (tmp_path / "labs").mkdir()
    (tmp_path / "labs" / "state.json").write_text(json.dumps(
        {"active": {"name": "slow-query", "situation": {"delay_ms": 500}}, "solved": []}))
    checked = subprocess.run(
        [sys.executable, "-m", "labs", "--state-dir", str(tmp_path), "check", "slow-query", "--trace-id", "a" * 32,
         "--span-name", "x"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2 and "make run" in checked.stderr


def test_make_freeze_and_resume_touch_make_runs_service_and_no_other_process(run):
    """`make freeze SERVICE=die-service` signals the pids make run recorded: a process whose command
    line looks like a die service's (what `pkill -f 'gunicorn.*diespec.app'` matched) is untouched."""
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "gunicorn",
                              "diespec.app:create_app()"])
    try:
        master = json.loads((run.folder / "run.json").read_text())["services"]["die-service"]["pid"]
        frozen = control_main(["freeze", "die-service", "--state-dir", str(run.folder)])
        assert frozen == 0 and poll_until(lambda: is_stopped(master), timeout=5)
        assert not is_stopped(decoy.pid)
        assert control_main(["resume", "die-service", "--state-dir", str(run.folder)]) == 0
        assert poll_until(lambda: not is_stopped(master), timeout=5)
        assert requests.get(f"{run.die_service}/healthz", timeout=5).ok
    finally:
        decoy.kill()
        decoy.wait()


def test_make_freeze_without_make_run_says_so(tmp_path, capsys):
    assert control_main(["freeze", "die-service", "--state-dir", str(tmp_path)]) == 2
    assert "make run is not running" in capsys.readouterr().err


@pytest.mark.slow
def test_failing_die_under_make_run_on_postgresql(tmp_path, postgres_server):
    """Through the die service's own data layer: the dice added to PostgreSQL, rolled, read from the
    metrics, and removed at stop (the shell that runs make run and the labs has the DATABASE_URL)."""
    url = postgres_server.create_database("labs_failing_die")
    sandbox = MakeRun(tmp_path, prometheus=False, DATABASE_URL=url)
    try:
        sandbox.wait_until_up()
        started = sandbox.labs("start", "failing-die")
        assert started.returncode == 0, started.stderr
        dice = re.search(r"The lab's dice: (.+)", started.stdout)[1].split(", ")
        assert postgres_server.psql("SELECT count(*) FROM die_specifications WHERE identifier IN ('"
                                    + "','".join(dice) + "')", database="labs_failing_die") == "3"
        right, _, _ = SOLVERS["failing-die"](Sandbox.find(tmp_path), time.time(), started.stdout)
        checked = sandbox.labs("check", "failing-die", *right)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert sandbox.labs("stop", "failing-die").returncode == 0
        assert postgres_server.psql("SELECT count(*) FROM die_specifications WHERE identifier IN ('"
                                    + "','".join(dice) + "')", database="labs_failing_die") == "0"
    finally:
        sandbox.labs("stop", "failing-die")
        sandbox.stop()


def test_a_lab_whose_dice_cannot_be_added_stops_with_one_line_and_leaves_nothing(tmp_path):
    """The table is not where the lab writes (renamed, in this test's own database): start says why, exit 2."""
    sandbox = MakeRun(tmp_path, prometheus=False)
    try:
        sandbox.wait_until_up()
        with sqlite3.connect(tmp_path / "dice.sqlite3") as database:
            database.execute("ALTER TABLE die_specifications RENAME TO elsewhere")
        started = sandbox.labs_in_a_process("start", "failing-die")
        assert started.returncode == 2, started.stdout + started.stderr
        assert started.stderr.startswith("Cannot start failing-die: the lab's dice could not be added")
        assert "Traceback" not in started.stderr and active_lab(sandbox) is None
        with sqlite3.connect(tmp_path / "dice.sqlite3") as database:
            assert database.execute("SELECT count(*) FROM elsewhere").fetchone()[0] == 5  # the seed's, nothing more
    finally:
        sandbox.stop()


@pytest.mark.slow
def test_runserver_beside_make_run_sends_its_spans_and_its_lines_to_make_run(run, tmp_path):
    """make runserver beside make run: its spans join make run's traces, and its lines are both
    in its terminal and in make run's log folder, where the trace page finds them; every time
    it tells is UTC, as the JSON lines' timestamps."""
    port = free_port()
    # A learner's shell: none of pytest's Django test settings, tracing on.
    shell = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "DJANGO_"))}
    with open(tmp_path / "terminal.txt", "wb") as terminal:
        server = subprocess.Popen([sys.executable, "-m", "runtime.launcher.runserver", "--port", str(port),
                                   "--state-dir", str(run.folder)], cwd=REPO, env=shell, stdout=terminal,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def rolled():
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(f"http://127.0.0.1:{port}/roll", params={"die": "fair"}, timeout=5)
                return answer.json()["trace_id"] if answer.status_code == 200 else None
            return None

        assert poll_until(rolled, timeout=30), "runserver never answered a roll"
        trace_id = rolled()
        kept = poll_until(lambda: requests.get(f"{run.tempo}/api/traces/{trace_id}", timeout=2).ok, timeout=15)
        assert kept, "the trace never reached make run's trace view"
        spans = spans_of(requests.get(f"{run.tempo}/api/traces/{trace_id}", timeout=2).json())
        assert {span.service for span in spans} == {"frontend", "dice-roller", "die-service"}
        # The frontend's own line of that roll, on the trace's page, from runserver's log file.
        page = requests.get(f"{run.tempo}/trace/{trace_id}", timeout=10).text
        assert "Dice roller response received" in page and "frontend-runserver" in page
        # Django's runserver runs no profiling agent: its span says so, instead of "no samples".
        assert page.count('">not profiled</td>') == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    shown = (tmp_path / "terminal.txt").read_text()
    kept_lines = (run.folder / "logs" / "frontend-runserver.log").read_text()
    assert trace_id in shown and trace_id in kept_lines  # in its terminal still, and in the file
    # Django's own banner says the time the server started, in the process's time zone.
    started = re.search(r"^(\w+ \d\d, \d{4} - \d\d:\d\d:\d\d)$", shown, re.M)
    assert started, shown
    said = datetime.strptime(started[1], "%B %d, %Y - %H:%M:%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - said) < timedelta(minutes=5), f"{said} is not UTC now"
    assert "server_time" not in shown  # runserver's request lines tell one time, the UTC timestamp


def requests_ok(url):
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False
