"""make run's run file tells a live run from one that was killed, and a process make run started
from a stranger that took its pid (runtime/launcher/run_file.py): nothing is ever signalled on a
pid's word alone."""

import json
import os
import subprocess
import sys

import pytest

from harness.processes import is_stopped
from runtime.launcher.control import main as control_main
from runtime.launcher.run_file import NotRunning, RunFile, identity, live_run, service_pid


@pytest.fixture
def stranger():
    """A process that is not make run's: what a recorded pid may point at once make run is gone."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def write_run(folder, make_run, services):
    (folder / "run.json").write_text(json.dumps({"urls": {}, "make_run": make_run, "services": services}))


def test_a_run_file_is_live_while_its_make_run_is_the_process_recorded(tmp_path):
    RunFile(tmp_path).write({"urls": {}}, {})  # this very process plays make run
    assert live_run(tmp_path)["make_run"]["pid"] == os.getpid()


def test_a_run_file_whose_make_run_is_gone_is_stale_though_its_pid_is_taken_again(tmp_path, stranger):
    killed = identity(stranger.pid)
    write_run(tmp_path, {**killed, "started": killed["started"] - 3600}, {})  # same pid, another process
    assert live_run(tmp_path) is None
    write_run(tmp_path, {**killed, "command": ["python", "-m", "runtime"]}, {})
    assert live_run(tmp_path) is None
    write_run(tmp_path, killed, {})
    assert live_run(tmp_path) is not None


def test_a_service_pid_that_is_someone_elses_now_is_never_signalled(tmp_path, stranger):
    """make run lives on, but the die service it started died and a stranger took its pid."""
    taken = identity(stranger.pid)
    write_run(tmp_path, identity(os.getpid()), {"die-service": {**taken, "started": taken["started"] - 60}})
    with pytest.raises(NotRunning):
        service_pid(live_run(tmp_path), "die-service")
    assert control_main(["freeze", "die-service", "--state-dir", str(tmp_path)]) == 2
    assert not is_stopped(stranger.pid)


def test_make_freeze_without_a_service_says_the_make_form(tmp_path, capsys):
    assert control_main(["freeze", "--state-dir", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert said.startswith("usage: make freeze|resume|reload SERVICE=NAME") and "die-service" in said


def test_make_freeze_of_a_name_that_is_no_service_says_so(tmp_path, capsys):
    assert control_main(["freeze", "roller", "--state-dir", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert said.startswith("'roller' is not a service of make run. usage: make freeze") and "dice-roller" in said
