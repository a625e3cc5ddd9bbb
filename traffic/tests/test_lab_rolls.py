"""The traffic generator rolling for a lab (--lab NAME): its faults travel as the lab's, never named in
its summary, and its rolls carry the lab's tag; the faults come on standard input, not argv."""

import subprocess
import sys
from urllib.parse import unquote

from ops.faults import Fault
from runtime import REPO
from traffic.runner import LAB_ATTRIBUTE, USER_ROLLS_SPAN, Run


class Answer:
    status_code = 200

    @staticmethod
    def json():
        return {"die": "fair", "roll": 4, "trace_id": "a" * 32}


class Session:
    """Records what each roll sent."""

    def __init__(self):
        self.headers = []

    def get(self, url, params, headers, timeout):
        self.headers.append(headers)
        return Answer()


def test_a_labs_rolls_carry_its_faults_as_lab_faults_and_its_tag(span_exporter):
    session = Session()
    run = Run("http://frontend", session, faults=[("die-service", Fault("delay", 1650))], lab="slow-hop")
    faulted, plain = run.roll(0, "fair", run._faults), run.roll(0, "fair")
    assert unquote(session.headers[0]["baggage"]) == "lab-fault.die-service=delay:1650"
    assert "baggage" not in session.headers[1]
    assert faulted.fault is None and plain.fault is None  # the summary names no lab fault
    roots = [span for span in span_exporter.get_finished_spans() if span.name == USER_ROLLS_SPAN]
    assert [span.attributes[LAB_ATTRIBUTE] for span in roots] == ["slow-hop", "slow-hop"]


def test_without_a_lab_a_fault_is_the_tours(span_exporter):
    session = Session()
    outcome = Run("http://frontend", session).roll(0, "fair", [("die-service", Fault("delay", 300))])
    assert unquote(session.headers[0]["baggage"]) == "fault.die-service=delay:300"
    assert outcome.fault == "fault.die-service=delay:300"
    assert all(LAB_ATTRIBUTE not in span.attributes for span in span_exporter.get_finished_spans())


def traffic(*arguments, given=""):
    return subprocess.run([sys.executable, "-m", "traffic", "--url", "http://127.0.0.1:9", "--no-trace", *arguments],
                          cwd=REPO, input=given, capture_output=True, text=True, timeout=30)


def test_a_labs_faults_are_read_from_standard_input_and_checked():
    refused = traffic("--lab", "slow-hop", given="die-service=delay:soon\n")
    assert refused.returncode == 2 and "standard input" in refused.stderr and "expected" in refused.stderr
    read = traffic("--lab", "slow-hop", given="die-service=delay:1650\n")
    assert "Cannot reach the frontend" in read.stderr  # read and accepted: on to the rolls
    both = traffic("--lab", "slow-hop", "--fault", "die-service=delay:1")
    assert both.returncode == 2 and "--lab takes its faults on standard input" in both.stderr

