"""The cpu-or-wait lab's check, in process: a trace as Tempo answers it and a span's profile as
Pyroscope answers it, each way the learner can be right or wrong."""

import time
from argparse import Namespace

import pytest

from labs.catalog import CANNOT_CHECK, RIGHT, WRONG, CpuOrWait
from labs.sandbox import Sandbox
from runtime.backends.pyroscope import CpuSample, flamegraph

TRACE_ID = "5b8efff798038103d269b633813fc60c"
FRONTEND, ROLLER, DIE_SERVICE = "1" * 16, "2" * 16, "3" * 16


def span(service, span_id, parent, start_ms, end_ms, now_ns):
    return {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [{
                "spanId": span_id, "parentSpanId": parent, "name": "GET /roll", "kind": "SPAN_KIND_SERVER",
                "startTimeUnixNano": str(now_ns + int(start_ms * 1e6)),
                "endTimeUnixNano": str(now_ns + int(end_ms * 1e6)),
            }]}]}


class FakeSandbox:
    """A roll whose dice roller held 960 ms of its own, ended `ended_seconds_ago`, with `cpu_ms` of CPU."""

    tempo = "http://127.0.0.1:3200"
    profile_lag_seconds = 5
    profile_on_its_way = Sandbox.profile_on_its_way  # the real rule, over this lag

    def __init__(self, cpu_ms, ended_seconds_ago=60):
        start_ns = int((time.time() - ended_seconds_ago - 1) * 1e9)
        self.trace = {"batches": [span("frontend", FRONTEND, "", 0, 1000, start_ns),
                                  span("dice-roller", ROLLER, FRONTEND, 10, 990, start_ns),
                                  span("die-service", DIE_SERVICE, ROLLER, 20, 30, start_ns)]}
        samples = [CpuSample("dice-roller", {}, ("handle", "burn_cpu_for_fault"), int(cpu_ms * 1e6), 0),
                   CpuSample("dice-roller", {}, ("handle", "dumps"), 10_000_000, 0)] if cpu_ms else []
        self.profile = flamegraph(samples)
        self.asked = []

    def get_trace(self, trace_id):
        return self.trace if trace_id == TRACE_ID else None

    def span_profile(self, service, span_id):
        self.asked.append((service, span_id))
        return self.profile


SITUATION = {"service": "dice-roller", "ms": 700}


def check(sandbox, cause_set_up, **answer):
    answer = {"trace_id": TRACE_ID, "service": "dice-roller", "function": None, **answer}
    return CpuOrWait().check(sandbox, {**SITUATION, "cause": cause_set_up}, Namespace(**answer))


def test_a_computing_hop_named_with_its_function_is_right():
    sandbox = FakeSandbox(cpu_ms=900)
    verdict = check(sandbox, "cpu", cause="cpu", function="burn_cpu_for_fault")
    assert verdict.code == RIGHT and "most in burn_cpu_for_fault" in verdict.text
    assert sandbox.asked == [("dice-roller", ROLLER)]  # that span's own profile


@pytest.mark.parametrize("answer", [{"cause": "wait"}, {"cause": "cpu", "function": "dumps"},
                                   {"cause": "cpu", "function": None}])
def test_a_computing_hop_misread_is_wrong_and_the_hint_keeps_the_function(answer):
    verdict = check(FakeSandbox(cpu_ms=900), "cpu", **answer)
    assert verdict.code == WRONG and "burn_cpu_for_fault" not in verdict.text


def test_a_waiting_hop_is_read_from_its_empty_profile():
    assert check(FakeSandbox(cpu_ms=0), "wait", cause="wait").code == RIGHT
    wrong = check(FakeSandbox(cpu_ms=0), "wait", cause="cpu", function="burn_cpu_for_fault")
    assert wrong.code == WRONG and "open its profile" in wrong.text


def test_a_profile_not_yet_arrived_is_not_yet_never_wrong():
    verdict = check(FakeSandbox(cpu_ms=0, ended_seconds_ago=2), "cpu", cause="cpu", function="burn_cpu_for_fault")
    assert verdict.code == CANNOT_CHECK and "not arrived yet" in verdict.text


def test_the_wrong_hop_or_a_fast_trace_is_wrong():
    assert check(FakeSandbox(cpu_ms=900), "cpu", service="frontend", cause="cpu").code == WRONG
    assert check(FakeSandbox(cpu_ms=900), "cpu", trace_id="0" * 32, cause="cpu").code == CANNOT_CHECK  # not yet
    fast = CpuOrWait().check(FakeSandbox(cpu_ms=900), {**SITUATION, "ms": 2000, "cause": "cpu"},
                             Namespace(trace_id=TRACE_ID, service="dice-roller", cause="cpu", function=None))
    assert fast.code == WRONG and "not one of the slow ones" in fast.text


def test_a_trace_still_arriving_is_not_yet_never_wrong():
    """The frontend's span is not there yet: the roller's names a parent that has not arrived."""
    sandbox = FakeSandbox(cpu_ms=900, ended_seconds_ago=1)
    sandbox.trace["batches"] = sandbox.trace["batches"][1:]
    verdict = check(sandbox, "cpu", cause="wait")
    assert verdict.code == CANNOT_CHECK and "not fully arrived yet" in verdict.text
    sandbox_later = FakeSandbox(cpu_ms=900, ended_seconds_ago=60)
    sandbox_later.trace["batches"] = sandbox_later.trace["batches"][1:]
    assert check(sandbox_later, "cpu", cause="wait").code == WRONG  # long since ended: checked as it is
