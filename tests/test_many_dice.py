"""Many dice at once on real processes: one trace of 6 + N spans whose rolls overlap in time,
never more rolls at once than the roll threads, and log lines that open their own span."""

import json

import pytest

from harness.stack import Stack
from ops.services import spans_per_batch
from runtime.backends.otlp import OtlpReceiver
from tests.test_telemetry import telemetry_env

pytestmark = pytest.mark.slow

ROLL_THREADS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A stack whose rolls wait up to 0.3 s on three roll threads, and three batches: three
    fair dice (as many as threads), six (twice as many) and three doomed ones."""
    tmp_path = tmp_path_factory.mktemp("many-dice")
    receiver = OtlpReceiver()
    env = telemetry_env(tmp_path, receiver, ROLL_MAX_DELAY_SECONDS="0.3", ROLL_THREADS=str(ROLL_THREADS))
    stack = Stack(tmp_path, **env).start()
    try:
        answers = {
            name: stack.frontend.get("/roll-async", params={"die": die, "times": times})
            for name, die, times in (("three", "fair", 3), ("six", "fair", 6), ("doomed", "doomed", 3))
        }
        expected = {
            answer.json()["trace_id"]: spans_per_batch(answer.json().get("count", 3)) for answer in answers.values()
        }
        traces = receiver.wait_for(lambda t: all(len(t.get(i, [])) == n for i, n in expected.items()))
        yield stack, answers, {name: traces[answer.json()["trace_id"]] for name, answer in answers.items()}
    finally:
        stack.stop()
        receiver.close()


def rolls_of(spans):
    return sorted((s for s in spans if s.name == "roll die"), key=lambda s: s.attributes["die.roll_index"])


def most_at_once(spans):
    """The largest number of spans in progress at one moment."""
    edges = sorted([(s.start_ns, 1) for s in spans] + [(s.end_ns, -1) for s in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_a_batch_is_one_trace_of_the_chain_and_one_roll_span_per_die(run):
    stack, answers, traces = run
    body, spans = answers["three"].json(), traces["three"]
    assert answers["three"].status_code == 200 and len(spans) == spans_per_batch(3)
    [root] = [s for s in spans if not s.parent_span_id]
    by_id = {s.span_id: s for s in spans}
    chain = [(by_id[s.parent_span_id].service if s.parent_span_id else None, s.service, s.kind, s.name)
             for s in spans]
    assert sorted(chain, key=str) == sorted([
        (None, "frontend", "SERVER", "GET /roll-async"),
        ("frontend", "frontend", "CLIENT", "GET"),
        ("frontend", "dice-roller", "SERVER", "GET /roll-async"),
        ("dice-roller", "dice-roller", "CLIENT", "GET"),
        ("dice-roller", "die-service", "SERVER", "GET /dice"),
        ("die-service", "die-service", "CLIENT", "SELECT die_specifications"),
        *[("dice-roller", "dice-roller", "INTERNAL", "roll die")] * 3,
    ], key=str)
    assert root.attributes["die.type"] == "fair" and root.attributes["die.count"] == 3
    [roller] = [s for s in spans if s.service == "dice-roller" and s.kind == "SERVER"]
    assert roller.attributes["die.count"] == 3 and roller.attributes["die.total"] == body["total"]
    rolls = rolls_of(spans)
    assert all(s.parent_span_id == roller.span_id for s in rolls)
    assert [s.attributes["die.roll_index"] for s in rolls] == [0, 1, 2]
    assert [s.attributes["die.result"] for s in rolls] == body["rolls"]


def test_the_rolls_overlap_and_the_batch_lasts_as_long_as_the_slowest(run):
    stack, answers, traces = run
    rolls = rolls_of(traces["three"])
    [roller] = [s for s in traces["three"] if s.service == "dice-roller" and s.kind == "SERVER"]
    # Together, not one after the other: their spans overlap (the wall clock of a shared machine
    # cannot tell it for short rolls), and the batch ends once the slowest has.
    assert most_at_once(rolls) >= 2
    assert roller.end_ns >= max(s.end_ns for s in rolls)
    assert all(roller.start_ns <= s.start_ns and s.end_ns <= roller.end_ns for s in rolls)


def test_never_more_rolls_at_once_than_roll_threads(run):
    stack, answers, traces = run
    rolls = rolls_of(traces["six"])
    assert answers["six"].status_code == 200 and len(rolls) == 6
    assert 2 <= most_at_once(rolls) <= ROLL_THREADS


def test_a_doomed_batch_is_red_roll_by_roll_after_every_roll(run):
    stack, answers, traces = run
    answer = answers["doomed"]
    assert answer.status_code == 500
    assert answer.json()["error"] == "die_failed" and answer.json()["failed"] == 3
    rolls = rolls_of(traces["doomed"])
    assert len(rolls) == 3 and all(s.status == "ERROR" for s in rolls)
    assert all(any(name == "exception" for name, _ in s.events) for s in rolls)
    servers = [s for s in traces["doomed"] if s.kind == "SERVER"]
    assert {(s.service, s.status) for s in servers} == {
        ("frontend", "ERROR"), ("dice-roller", "ERROR"), ("die-service", "UNSET")}


def test_each_roll_s_log_line_opens_its_own_span_of_the_batch(run):
    stack, answers, traces = run
    trace_id = answers["six"].json()["trace_id"]
    lines = [json.loads(line) for line in stack.roller.log_lines() if trace_id in line]
    by_message = {}
    for line in lines:
        by_message.setdefault(line["message"], []).append(line)
    [started] = by_message["Async roll batch started"]
    assert (started["die_type"], started["times"]) == ("fair", 6)
    [completed] = by_message["Async roll batch completed"]
    assert completed["rolls"] == answers["six"].json()["rolls"] and completed["total"] == answers["six"].json()["total"]
    assert completed["duration_ms"] > 0
    roll_spans = {s.span_id: s for s in rolls_of(traces["six"])}
    rolled = by_message["Async roll completed"]
    assert sorted(line["roll_index"] for line in rolled) == list(range(6))
    for line in rolled:
        span = roll_spans[line["span_id"]]
        assert span.attributes["die.roll_index"] == line["roll_index"]
        assert span.attributes["die.result"] == line["roll_value"]
    failed = [json.loads(line) for line in stack.roller.log_lines() if answers["doomed"].json()["trace_id"] in line]
    [batch_failed] = [line for line in failed if line["message"] == "Async roll batch failed"]
    assert batch_failed["level"] == "ERROR" and batch_failed["failed"] == 3
