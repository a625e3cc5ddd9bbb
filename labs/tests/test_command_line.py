"""`python -m labs` as a shell runs it, and its exit codes: 0 right, 1 wrong, 2 not yet, 64 a command
line it cannot read (docs/labs.md)."""

import json
import subprocess
import sys
import time

import pytest

from labs.__main__ import main, parse_args
from labs.lab import CANNOT_CHECK, COMMAND, USAGE, WRONG
from runtime import REPO


def test_a_reader_that_stops_early_gets_no_traceback():
    """`python -m labs show NAME | head -1`: the pipe closes before the lab is printed."""
    shown = subprocess.Popen([sys.executable, "-m", "labs", "show", "slow-hop"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown.stdout.close()  # before it writes a line: its writes meet a closed pipe
    assert shown.wait(timeout=30) == 0
    assert shown.stderr.read() == b""
    shown.stderr.close()


def labs(state_dir, *arguments):
    """`python -m labs ARGUMENTS`, in process: its exit code (argparse's own exit too)."""
    try:
        return main(["--state-dir", str(state_dir), *arguments])
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize("arguments", [
    ("check", "failing-die", "--die", "jade-1", "--error-rate", "lots"),
    ("check", "failing-die", "--die", "jade-1", "--error-rate", "140%"),
    ("check", "failing-die", "--die", "jade-1"),
    ("check", "slow-hop", "--service", "roller", "--trace-id", "a" * 32),
    ("check", "cpu-or-wait", "--trace-id", "a" * 32, "--service", "frontend", "--cause", "both"),
    ("check", "no-such-lab"), ("start", "no-such-lab"), ("frobnicate",),
])
def test_a_command_line_the_labs_cannot_read_exits_64_never_the_2_of_not_yet(tmp_path, capsys, arguments):
    assert labs(tmp_path, *arguments) == USAGE == 64
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("rate, read", [("0.4", 0.4), ("40%", 0.4), ("0", 0.0), ("100%", 1.0)])
def test_an_error_rate_is_a_share_or_a_percentage(rate, read):
    args = parse_args(["check", "failing-die", "--die", "jade-1", "--error-rate", rate])
    assert args.error_rate == pytest.approx(read)


def test_cpu_or_waits_function_is_optional_as_documented():
    args = parse_args(["check", "cpu-or-wait", "--trace-id", "a" * 32, "--service", "frontend", "--cause", "cpu"])
    assert args.function is None


def started(state_dir, lab, situation):
    (state_dir / "labs").mkdir()
    (state_dir / "labs" / "state.json").write_text(json.dumps(
        {"active": {"name": lab, "situation": {"started": time.time(), **situation}}, "solved": []}))


@pytest.mark.parametrize("trace_id", ["nonsense", "0" * 32, "a" * 31])
def test_an_invalid_trace_id_is_refused_at_once_with_1(tmp_path, capsys, trace_id):
    """No sandbox is asked (none runs for this state folder): the id alone is wrong."""
    started(tmp_path, "slow-query", {"delay_ms": 500})
    assert labs(tmp_path, "check", "slow-query", "--trace-id", trace_id, "--span-name", "x") == WRONG == 1
    assert capsys.readouterr().out.startswith("Wrong: That is not a trace id")


def test_a_lab_not_started_is_2(tmp_path, capsys):
    assert labs(tmp_path, "check", "slow-query", "--trace-id", "a" * 32, "--span-name", "x") == CANNOT_CHECK == 2
    assert f"{COMMAND} start slow-query" in capsys.readouterr().err
