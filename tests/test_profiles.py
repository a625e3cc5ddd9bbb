"""Profiles, the fourth signal (docs/telemetry.md, "Profiles"): the real Pyroscope agent in real
gunicorn workers (the dice roller's two) pushes to make run's receiver (runtime/backends/pyroscope.py),
and what it pushed, decoded, says which span computed and in which function, and which span
only waited."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from backend_apis.pyroscope import CPU_PROFILE_TYPE
from harness.ports import free_port
from harness.stack import Stack
from ops.profiling import SAMPLE_INTERVAL_MS, sampled_range_ms
from runtime.backends.otlp import OtlpReceiver
from runtime.backends.profiles import ARRIVED, SILENT, WAITING, ProfileStore, top_functions
from runtime.backends.pyroscope import PyroscopeApi
from runtime.views.tree import SAMPLED, SpanCpu, cpu_summary, render_trace

pytestmark = pytest.mark.slow

BURNER = "burn_cpu_for_fault"


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    receiver = OtlpReceiver()
    # A profile comes within 150 ms of its window's end here: a second's grace is ample.
    profiles = PyroscopeApi(ProfileStore(upload_seconds=1, grace_seconds=1), port=0)
    stack = Stack(
        tmp_path_factory.mktemp("profiles"), OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100", PYROSCOPE_SERVER_ADDRESS=profiles.url, PYROSCOPE_UPLOAD_INTERVAL_SECONDS="1",
    )
    stack.roller.env["WEB_CONCURRENCY"] = "2"  # its spans come from two workers
    stack.start()
    # The first rolls pay for imports and connections: warm up first, as a learner's sandbox is.
    for _ in range(3):
        stack.frontend.get("/roll", params={"die": "fair"})
    yield stack, receiver, profiles
    stack.stop()
    receiver.close()
    profiles.close()


def roller_server_span(stack, receiver, fault):
    """The dice roller's SERVER span of a roll carrying `fault`, once its profile has arrived."""
    answer = stack.frontend.get("/roll", params={"die": "fair"}, headers={"baggage": f"fault.dice-roller={fault}"})
    assert answer.status_code == 200, answer.text
    trace_id = answer.json()["trace_id"]
    traces = receiver.wait_for(lambda traces: any(
        span.service == "dice-roller" and span.kind == "SERVER" for span in traces.get(trace_id, [])))
    [span] = [span for span in traces[trace_id] if span.service == "dice-roller" and span.kind == "SERVER"]
    return span


def wait_for_profile(profiles, span, timeout=30.0):  # a cap, not a wait: CI load delays pushes
    """The span's samples, once its own worker has sent its profile up to the span's end, or
    the window of its end has closed without one (a worker idle after a waiting span sends
    nothing for that window: the agent sends no profile without a sample)."""
    def known():
        return profiles.store.coverage(span.service, span.resource["process.pid"], span.end_ns) in (ARRIVED, SILENT)

    deadline = time.monotonic() + timeout
    while not known() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert known(), "no profile covering the span arrived"
    return profiles.store.select({"service_name": span.service}, span_ids={span.span_id})


def spent_within_reach(nanoseconds, span):
    least, most = sampled_range_ms(span.ms, sigmas=3)
    assert least <= nanoseconds / 1e6 <= most + SAMPLE_INTERVAL_MS, (nanoseconds / 1e6, span.ms)
    return True


def test_a_computing_span_has_the_burner_on_top_and_a_waiting_span_no_cpu(profiled):
    stack, receiver, profiles = profiled
    computing = roller_server_span(stack, receiver, "cpu:300")
    waiting = roller_server_span(stack, receiver, "delay:300")

    samples = wait_for_profile(profiles, computing)
    spent = sum(sample.nanoseconds for sample in samples)
    # Sampled, not measured: at random moments, 50 a second on average (docs/telemetry.md, "How
    # close a figure is"); on this shared machine the burn takes longer than its 300 ms of CPU,
    # and the figure follows the span's time. Within three standard deviations of it.
    assert spent_within_reach(spent, computing)
    assert top_functions(samples)[0][0] == BURNER
    assert {sample.labels["trace_id"] for sample in samples} == {computing.trace_id}
    # The worker's own samples: the agent's `pid` label is the span's process.pid.
    assert {sample.labels["pid"] for sample in samples} == {str(computing.resource["process.pid"])}
    assert computing.attributes["pyroscope.profile.id"] == computing.span_id
    # A span's tags leave its thread when it ends, though the framework renamed it once routed:
    # no sample carries a span's name without its id (ops/profiling.py, SpanProfiles).
    everything = profiles.store.select({"service_name": "dice-roller"})
    assert [sample for sample in everything if "span_name" in sample.labels and "span_id" not in sample.labels] == []
    assert {sample.labels.get("span_name") for sample in samples} <= {"GET", "GET /roll"}

    idle = wait_for_profile(profiles, waiting)
    assert waiting.seconds >= 0.3
    # Waiting costs no CPU: a few samples of the request's own work at most (parsing, the call to
    # the die service), far fewer than computing's, and never the burner.
    assert sum(sample.nanoseconds for sample in idle) < spent / 2, [(s.stack[-2:], s.nanoseconds) for s in idle]
    assert BURNER not in {function for sample in idle for function in sample.stack}

    # The terminal says the same under each trace (make run's trace view).
    cpu = SpanCpu(SAMPLED, spent, top_functions(samples), computing.end_ns - computing.start_ns)
    assert f"· cpu  {cpu_summary(cpu)}" in render_trace(computing.trace_id, [computing], {computing.span_id: cpu})
    assert BURNER in cpu_summary(cpu)


def test_a_workers_spans_wait_for_that_workers_profile_not_another_ones(profiled):
    """Two workers of the dice roller: one computes a span and is frozen before it sends that
    window's profile; the other computes on and sends its own past the span's end. The span's
    samples have not arrived (make run would print "no samples" for a span that computed), nor
    once its window has long closed (its worker is stopped): they come from its own worker,
    once it resumes."""
    stack, receiver, profiles = profiled
    store = profiles.store
    workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(stack.roller.process.pid)],
                                                  capture_output=True, text=True).stdout.split()]
    assert len(workers) == 2
    first, other = workers

    def roll_on_the_roller(fault, trace_id="0" * 31 + "1"):
        """A roll sent to the roller itself, on a connection of its own (so to a worker not frozen)."""
        return stack.roller.get("/roll", params={"die": "fair"}, headers={
            "baggage": f"fault.dice-roller={fault}", "traceparent": f"00-{trace_id}-{'0' * 15}1-01"})

    for _ in range(3):  # the worker's window may close in the moment before it is frozen
        trace_id = os.urandom(16).hex()
        os.kill(other, signal.SIGSTOP)  # the roll goes to `first`
        try:
            assert roll_on_the_roller("cpu:200", trace_id).status_code == 200
            ended_ns = time.time_ns()
            os.kill(first, signal.SIGSTOP)  # its profile of that window cannot be sent
        finally:
            os.kill(other, signal.SIGCONT)
        try:
            deadline = time.monotonic() + 10
            while store.coverage("dice-roller", other, ended_ns) != ARRIVED and time.monotonic() < deadline:
                assert roll_on_the_roller("cpu:50").status_code == 200  # `other` computes, and sends
            assert store.coverage("dice-roller", other, ended_ns) == ARRIVED
            waited = store.coverage("dice-roller", first, ended_ns)
            # Its window closed, and the grace for its push passed: a stopped worker's window is
            # no silence, it comes when the worker runs again.
            time.sleep(max(0.0, -(-ended_ns // 10**9) + 1.1 - time.time()))
            waited_while_frozen = store.coverage("dice-roller", first, ended_ns)
        finally:
            os.kill(first, signal.SIGCONT)
        if waited == WAITING:
            break
    assert waited == WAITING, "the frozen worker's window was sent every time before it froze"
    assert waited_while_frozen == WAITING
    traces = receiver.wait_for(lambda traces: any(
        span.service == "dice-roller" and span.kind == "SERVER" for span in traces.get(trace_id, [])))
    [computing] = [span for span in traces[trace_id] if span.service == "dice-roller" and span.kind == "SERVER"]
    assert computing.resource["process.pid"] == first
    samples = wait_for_profile(profiles, computing)
    assert spent_within_reach(sum(sample.nanoseconds for sample in samples), computing)


def test_the_query_api_answers_in_pyroscopes_shapes(profiled):
    stack, receiver, profiles = profiled
    computing = roller_server_span(stack, receiver, "cpu:300")
    wait_for_profile(profiles, computing)
    now_ms = int(time.time() * 1000)
    answer = requests.post(f"{profiles.url}/querier.v1.QuerierService/SelectMergeSpanProfile", json={
        "profileTypeID": CPU_PROFILE_TYPE, "labelSelector": '{service_name="dice-roller"}',
        "spanSelector": [computing.span_id], "start": now_ms - 60_000, "end": now_ms + 60_000,
    }, timeout=5)
    assert answer.status_code == 200
    graph = answer.json()["flamegraph"]
    assert graph["names"][0] == "total" and BURNER in graph["names"]
    assert spent_within_reach(int(graph["total"]), computing)  # sampled (see above)
    assert all(isinstance(value, str) for value in graph["levels"][0]["values"])
    # The burner is where the time was spent: the node with the most self time.
    nodes = [level["values"][i:i + 4] for level in graph["levels"] for i in range(0, len(level["values"]), 4)]
    assert graph["names"][int(max(nodes, key=lambda node: int(node[2]))[3])] == BURNER

    refused = requests.post(f"{profiles.url}/querier.v1.QuerierService/SelectMergeStacktraces",
                            json={"profileTypeID": CPU_PROFILE_TYPE, "labelSelector": "service_name=x"}, timeout=5)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_argument"


def test_the_agent_runs_in_the_workers_never_in_the_master(profiled):
    stack, _, _ = profiled
    master = stack.roller.process.pid
    workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    assert workers
    assert "pyroscope" not in Path(f"/proc/{master}/maps").read_text()
    assert all("pyroscope/_native" in Path(f"/proc/{worker}/maps").read_text() for worker in workers)


def test_an_unreachable_server_fails_no_roll_and_is_said_once(tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}"
    stack = Stack(tmp_path, PYROSCOPE_SERVER_ADDRESS=nobody, PYROSCOPE_UPLOAD_INTERVAL_SECONDS="1").start()
    try:
        assert [stack.frontend.get("/roll", params={"die": "fair"}).status_code for _ in range(10)] == [200] * 10
        time.sleep(2.5)  # two uploads or more, each failing
        for service in stack.services:
            warned = [json.loads(line) for line in service.log_lines() if "Profiles cannot be sent" in line]
            assert [(line["level"], line["pyroscope_server_address"]) for line in warned] == [("WARNING", nobody)]
    finally:
        stack.stop()


def test_a_platform_where_the_agent_cannot_run_serves_on_and_says_so_once(tmp_path):
    """No wheel for this platform: the agent's import fails (a stand-in package that says so)."""
    stand_in = tmp_path / "no_agent" / "pyroscope"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text('raise ImportError("no pyroscope-io wheel for this platform")\n')
    stack = Stack(tmp_path, PYROSCOPE_SERVER_ADDRESS=f"http://127.0.0.1:{free_port()}",
                  PYTHONPATH=str(stand_in.parent)).start()
    try:
        assert [stack.frontend.get("/roll", params={"die": "fair"}).status_code for _ in range(5)] == [200] * 5
        for service in stack.services:
            warned = [json.loads(line) for line in service.log_lines() if "Pyroscope agent cannot run" in line]
            assert [(line["level"], line["reason"]) for line in warned] == [
                ("WARNING", "no pyroscope-io wheel for this platform")]
            assert not [line for line in service.log_lines() if "Profiles cannot be sent" in line]
    finally:
        stack.stop()
