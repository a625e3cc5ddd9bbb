"""`python -m labs` as a shell runs it."""

import subprocess
import sys

from runtime import REPO


def test_a_reader_that_stops_early_gets_no_traceback():
    """`python -m labs show NAME | head -1`: the pipe closes before the lab is printed."""
    shown = subprocess.Popen([sys.executable, "-m", "labs", "show", "slow-hop"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown.stdout.close()  # before it writes a line: its writes meet a closed pipe
    assert shown.wait(timeout=30) == 0
    assert shown.stderr.read() == b""
    shown.stderr.close()
