"""Every lab given a wrong answer of each kind, in process: its verdict WRONG, and its hint true of
the trace (or counters, or log line) it was given: the figures it quotes are that trace's, it names
only what the sandbox has (make run's pages, or compose's Grafana), its links find the lab's own
traces, and it never gives the answer away."""

import json
import re
import time
from argparse import Namespace
from urllib.parse import parse_qs, urlsplit

import pytest

from labs.catalog import LABS
from labs.lab import CANNOT_CHECK, FIRST_TRACES_SECONDS, RIGHT, WRONG, trace_id_problem
from labs.tests.traces import TEMPO, RecordedSandbox, batch, roll
from labs.traces import server_own_ms as own
from labs.traces import trace_ms
from runtime.backends.profiles import CpuSample, flamegraph
from runtime.backends.traceql import matches, parse

STARTED = time.time() - 120  # the lab began two minutes ago: its first traces are in
SLOW_AT_FRONTEND, FAST, QUEUED, SLOW_AT_DIE = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def check(lab, sandbox, situation, **answer):
    return LABS[lab].check(sandbox, {"started": STARTED, **situation}, Namespace(**answer))


def assert_true_to_the_sandbox(verdict, sandbox, lab):
    """The hint names what this sandbox has, where it has it, and begins as no wait would."""
    assert verdict.code == WRONG and not verdict.text.startswith(("Not yet", "Wait"))
    if sandbox.is_compose:
        assert "make run" not in verdict.text and TEMPO not in verdict.text
    else:
        assert "Grafana" not in verdict.text and "flame graph" not in verdict.text
    assert not re.search(r"https?://\S*[.,;:)]($|\s)", verdict.text), "a link runs into its punctuation"
    for link in re.findall(r"https?://\S+", verdict.text):
        if link == sandbox.tempo:  # the backend asked, named as such
            continue
        query = parse_qs(urlsplit(link).query)
        if sandbox.is_compose:
            assert link.startswith("http://localhost:3000/explore?")  # Grafana's, a trace or a search
            pane = json.loads(query["panes"][0])["trace"]
            if "lab.name" in pane["queries"][0]["query"]:  # a search: the lab's own traces, since it began
                assert f'{{span.lab.name="{lab}"}}' in pane["queries"][0]["query"]
                assert pane["range"]["from"] == str(int(STARTED * 1000))
        elif "/search?" in link:  # make run's search page: the lab's own traces, since it began
            assert link.startswith(f"{TEMPO}/search?") and f'{{span.lab.name="{lab}"}}' in query["q"][0]
            assert query["start"] == [str(int(STARTED))]
        else:
            assert link.startswith((f"{TEMPO}/trace/", *RecordedSandbox().urls.values())), link


def number_in(text, before):
    return float(re.search(rf"([\d.]+) {before}", text)[1])


@pytest.fixture(params=[False, True], ids=["make run", "compose"])
def compose(request):
    return request.param


# ---- slow-hop: a slow trace, and the service whose span holds its time

SLOW_HOP = {"service": "frontend", "delay_ms": 1500}
LONG_PLAIN = "7" * 32


def slow_hop_sandbox(compose):
    return RecordedSandbox([roll(SLOW_AT_FRONTEND, frontend=1500, rolling=200), roll(FAST, rolling=200),
                            roll(QUEUED, queued=2500), roll(SLOW_AT_DIE, die_service=1500)], compose=compose)


def test_slow_hop_right(compose):
    verdict = check("slow-hop", slow_hop_sandbox(compose), SLOW_HOP, service="frontend", trace_id=SLOW_AT_FRONTEND)
    assert verdict.code == RIGHT and "1502 ms of its own" in verdict.text  # its 1500 and the 2 before its call


def test_slow_hop_a_fast_trace_is_told_its_length(compose):
    sandbox = slow_hop_sandbox(compose)
    verdict = check("slow-hop", sandbox, SLOW_HOP, service="frontend", trace_id=FAST)
    assert_true_to_the_sandbox(verdict, sandbox, "slow-hop")
    assert number_in(verdict.text, "ms: not one of the slow ones") == round(trace_ms(sandbox.traces[FAST].spans))


def test_slow_hop_a_long_trace_whose_time_no_hop_holds_is_never_called_fast(compose):
    """The issue's 4.3 s trace "not one of the slow ones": this one took 2.8 s waiting for a thread."""
    sandbox = slow_hop_sandbox(compose)
    verdict = check("slow-hop", sandbox, SLOW_HOP, service="frontend", trace_id=QUEUED)
    assert_true_to_the_sandbox(verdict, sandbox, "slow-hop")
    assert "not one of the slow ones" not in verdict.text and "no hop of it holds the time" in verdict.text
    assert number_in(verdict.text, "s, but") == round(trace_ms(sandbox.traces[QUEUED].spans) / 1000, 1)


def test_slow_hop_a_long_plain_roll_is_told_its_time_is_the_rolls_own_wait(compose):
    """A plain roll past 1.2 s on a busy machine (the newcomer's 2164d394...): its time is the
    dice roller's `roll die`, the roll's designed wait, not queueing and not a hop's delay."""
    sandbox = RecordedSandbox([roll(LONG_PLAIN, rolling=1180, queued=40)], compose=compose)
    verdict = check("slow-hop", sandbox, SLOW_HOP, service="frontend", trace_id=LONG_PLAIN)
    assert_true_to_the_sandbox(verdict, sandbox, "slow-hop")
    assert "`roll die` span (1180 ms)" in verdict.text and "between spans" not in verdict.text


@pytest.mark.parametrize("service", ["dice-roller", "die-service"])
def test_slow_hop_the_wrong_service_is_told_its_own_time(compose, service):
    sandbox = slow_hop_sandbox(compose)
    verdict = check("slow-hop", sandbox, SLOW_HOP, service=service, trace_id=SLOW_AT_FRONTEND)
    assert_true_to_the_sandbox(verdict, sandbox, "slow-hop")
    assert number_in(verdict.text, "ms of its own") == round(
        own(service, sandbox.traces[SLOW_AT_FRONTEND].spans))
    assert "frontend" not in verdict.text  # the answer, not given away


def test_slow_hop_a_trace_slow_elsewhere_than_the_lab_made_it(compose):
    sandbox = slow_hop_sandbox(compose)
    verdict = check("slow-hop", sandbox, SLOW_HOP, service="die-service", trace_id=SLOW_AT_DIE)
    assert_true_to_the_sandbox(verdict, sandbox, "slow-hop")
    assert "not by this lab's doing" in verdict.text


def test_a_trace_not_seen_is_not_yet_early_in_the_lab_then_no_such_trace(compose):
    sandbox, unknown = slow_hop_sandbox(compose), "e" * 32
    early = LABS["slow-hop"].check(sandbox, {**SLOW_HOP, "started": time.time() - 5},
                                   Namespace(service="frontend", trace_id=unknown))
    assert early.code == CANNOT_CHECK and "yet" in early.text
    assert time.time() - STARTED > FIRST_TRACES_SECONDS
    late = check("slow-hop", sandbox, SLOW_HOP, service="frontend", trace_id=unknown)
    assert late.code == WRONG and "has no trace with that id" in late.text
    assert_true_to_the_sandbox(late, sandbox, "slow-hop")


def test_a_trace_still_arriving_is_not_yet_then_checked_as_it_is():
    """Its frontend's span is not there yet: the roller's names a parent that has not arrived."""
    for ended, code in ((1, CANNOT_CHECK), (60, WRONG)):
        arriving = roll(SLOW_AT_FRONTEND, frontend=1500, ended_seconds_ago=ended)
        arriving.spans = [span for span in arriving.spans if span.service != "frontend"]
        verdict = check("slow-hop", RecordedSandbox([arriving]), SLOW_HOP, service="frontend",
                        trace_id=SLOW_AT_FRONTEND)
        assert verdict.code == code, verdict.text


@pytest.mark.parametrize("text", ["nonsense", "0" * 32, "a" * 31, "g" * 32, "a" * 33, " "])
def test_a_trace_id_that_is_none_is_refused_at_once(text):
    for lab in ("slow-hop", "slowest-in-batch", "slow-query", "cpu-or-wait"):
        verdict = LABS[lab].refusal(Namespace(trace_id=text))
        assert verdict.code == WRONG and verdict.text == trace_id_problem(text)
    assert trace_id_problem("4BF92F3577B34DA6A3CE929D0E0E4736") is None  # as some tools write it


# ---- failing-die: the die, and its rate, from the counters

FAILING = {"dice": ["jade-1", "onyx-2", "amber-3"], "failing": "onyx-2", "rate": 0.3}
COUNTERS = {("jade-1", "success"): 60, ("onyx-2", "success"): 42, ("onyx-2", "error"): 18, ("amber-3", "success"): 61}


def test_failing_die_each_wrong_answer(compose):
    sandbox = RecordedSandbox(counters=COUNTERS, compose=compose)
    right = check("failing-die", sandbox, FAILING, die="onyx-2", error_rate=0.3)
    assert right.code == RIGHT
    stranger = check("failing-die", sandbox, FAILING, die="fair", error_rate=0.3)
    assert_true_to_the_sandbox(stranger, sandbox, "failing-die")
    assert "not one of this lab's dice" in stranger.text
    healthy = check("failing-die", sandbox, FAILING, die="jade-1", error_rate=0.3)
    assert_true_to_the_sandbox(healthy, sandbox, "failing-die")
    assert "failed 0 of 60 rolls" in healthy.text and "onyx" not in healthy.text
    for rate, direction in ((0.5, "too high"), (0.1, "too low")):
        off = check("failing-die", sandbox, FAILING, die="onyx-2", error_rate=rate)
        assert_true_to_the_sandbox(off, sandbox, "failing-die")
        assert direction in off.text and "0.30" not in off.text


def test_failing_die_with_few_rolls_is_not_yet():
    sandbox = RecordedSandbox(counters={key: value / 10 for key, value in COUNTERS.items()})
    assert check("failing-die", sandbox, FAILING, die="onyx-2", error_rate=0.3).code == CANNOT_CHECK


# ---- slowest-in-batch

def test_slowest_in_batch_each_wrong_answer(compose):
    batch_id, single_id = "1" * 32, "2" * 32
    sandbox = RecordedSandbox([batch(batch_id, (30, 90, 60)), roll(single_id, lab="slowest-in-batch")],
                              compose=compose)
    assert check("slowest-in-batch", sandbox, {}, trace_id=batch_id, roll_index=1).code == RIGHT
    single = check("slowest-in-batch", sandbox, {}, trace_id=single_id, roll_index=0)
    assert_true_to_the_sandbox(single, sandbox, "slowest-in-batch")
    assert "it has 0 `roll die` spans" in single.text  # its roll is not a batch's: no die.roll_index
    beyond = check("slowest-in-batch", sandbox, {}, trace_id=batch_id, roll_index=7)
    assert_true_to_the_sandbox(beyond, sandbox, "slowest-in-batch")
    assert "rolled 3 dice, die.roll_index 0 to 2" in beyond.text
    faster = check("slowest-in-batch", sandbox, {}, trace_id=batch_id, roll_index=2)
    assert_true_to_the_sandbox(faster, sandbox, "slowest-in-batch")
    assert "Roll 2 took 60 ms" in faster.text and "90" not in faster.text


# ---- dependency-down

def failed_roll(trace_id, waited_ms=2000):
    """A roll whose roller gave up on a frozen die service after `waited_ms`: the frontend answered 503."""
    trace = roll(trace_id, lab="dependency-down")
    for span in trace.spans:
        if (span.service, span.kind) == ("dice-roller", "CLIENT"):
            span.status, span.end_ns = "ERROR", span.start_ns + int(waited_ms * 1e6)
        if (span.service, span.kind) == ("frontend", "SERVER"):
            span.attributes["http.response.status_code"] = 503
    return trace


def test_dependency_down_each_wrong_answer(compose):
    sandbox = RecordedSandbox([failed_roll("3" * 32)], compose=compose)
    assert check("dependency-down", sandbox, {}, status=503, waited_ms=2000).code == RIGHT
    status = check("dependency-down", sandbox, {}, status=504, waited_ms=2000)
    assert_true_to_the_sandbox(status, sandbox, "dependency-down")
    assert "did not answer 504" in status.text and "503" not in status.text
    for waited, direction in ((5000, "more"), (500, "less")):
        wait = check("dependency-down", sandbox, {}, status=503, waited_ms=waited)
        assert_true_to_the_sandbox(wait, sandbox, "dependency-down")
        assert f"{waited} ms is {direction} than the roller waited" in wait.text and "2000" not in wait.text


# ---- logs-for-a-trace

def test_logs_for_a_trace_a_wrong_count(compose):
    trace_id = "4" * 32
    sandbox = RecordedSandbox(lines=[{"message": "Async roll batch failed", "failed": 3, "trace_id": trace_id}],
                              compose=compose)
    situation = {"trace_id": trace_id, "failed": 3}
    assert check("logs-for-a-trace", sandbox, situation, failed=3).code == RIGHT
    wrong = check("logs-for-a-trace", sandbox, situation, failed=4)
    assert_true_to_the_sandbox(wrong, sandbox, "logs-for-a-trace")
    assert "does not say failed=4" in wrong.text and "failed=3" not in wrong.text
    missing = check("logs-for-a-trace", RecordedSandbox(compose=compose), situation, failed=3)
    assert missing.code == CANNOT_CHECK


def test_logs_for_a_trace_the_batch_size_is_told_for_what_it_is(compose):
    """A newcomer answered the batch's `times` (17): the hint spoke of another batch's line."""
    trace_id = "4" * 32
    sandbox = RecordedSandbox(lines=[{"message": "Async roll batch failed", "failed": 9, "trace_id": trace_id}],
                              compose=compose)
    wrong = check("logs-for-a-trace", sandbox, {"trace_id": trace_id, "failed": 9, "times": 17}, failed=17)
    assert wrong.code == WRONG and "how many dice the batch rolled" in wrong.text and "9" not in wrong.text


# ---- slow-query

def test_slow_query_each_wrong_answer(compose):
    slow_id, fast_id, page_id = "5" * 32, "6" * 32, "7" * 32
    page = roll(page_id, lab="slow-query")
    page.spans = [span for span in page.spans if "db.system.name" not in span.attributes]  # no query: a page's trace
    sandbox = RecordedSandbox([roll(slow_id, query=600, lab="slow-query"), roll(fast_id, query=3, lab="slow-query"),
                               page], compose=compose)
    situation = {"delay_ms": 600}
    right = check("slow-query", sandbox, situation, trace_id=slow_id, span_name="SELECT die_specifications")
    assert right.code == RIGHT
    fast = check("slow-query", sandbox, situation, trace_id=fast_id, span_name="SELECT die_specifications")
    assert_true_to_the_sandbox(fast, sandbox, "slow-query")
    assert "query took 3 ms: it did not wait" in fast.text
    none = check("slow-query", sandbox, situation, trace_id=page_id, span_name="SELECT die_specifications")
    assert_true_to_the_sandbox(none, sandbox, "slow-query")
    assert "no database query span" in none.text
    for name, hint in (("GET /dice", "long only because a span below it is"), ("roll die", "did not hold"),
                       ("SELECT dice", "No span of that trace has that name")):
        verdict = check("slow-query", sandbox, situation, trace_id=slow_id, span_name=name)
        assert_true_to_the_sandbox(verdict, sandbox, "slow-query")
        assert hint in verdict.text and "SELECT die_specifications" not in verdict.text


# ---- cpu-or-wait


@pytest.mark.parametrize(("lab", "fault"), [("slow-hop", {"dice_roller": 1200}), ("cpu-or-wait", {"dice_roller": 400}),
                                            ("cpu-or-wait", {"die_service": 400})])
def test_a_labs_search_lists_its_slow_rolls_and_never_a_plain_one(lab, fault):
    """A plain roll waits up to a second of its own (the roller's `roll die` span), so its frontend and
    roller spans pass 400 ms: the search a lab prints lists only rolls that hold its fault."""
    query = parse(LABS[lab].search_query())
    assert not matches(query, roll("1" * 32, rolling=1000, lab=lab).spans)  # the longest plain roll
    assert matches(query, roll("2" * 32, rolling=850, lab=lab, **fault).spans)
    assert not matches(query, roll("3" * 32, rolling=850, lab="another", **fault).spans)  # another lab's


def cpu_sandbox(compose, cpu_ms, ended_seconds_ago=60):
    computing, fast = roll("8" * 32, dice_roller=700, lab="cpu-or-wait", ended_seconds_ago=ended_seconds_ago), \
        roll("9" * 32, lab="cpu-or-wait")
    [server] = [s for s in computing.spans if (s.service, s.kind) == ("dice-roller", "SERVER")]
    samples = [CpuSample("dice-roller", {}, ("handle", "burn_cpu_for_fault"), int(cpu_ms * 1e6), 0),
               CpuSample("dice-roller", {}, ("handle", "dumps"), 10_000_000, 0)] if cpu_ms else []
    return RecordedSandbox([computing, fast], profiles={server.span_id: flamegraph(samples)}, compose=compose)


CPU = {"service": "dice-roller", "ms": 700, "cause": "cpu"}


def test_cpu_or_wait_the_function_is_optional(compose):
    sandbox = cpu_sandbox(compose, cpu_ms=650)
    named = check("cpu-or-wait", sandbox, CPU, trace_id="8" * 32, service="dice-roller", cause="cpu",
                  function="burn_cpu_for_fault")
    unnamed = check("cpu-or-wait", sandbox, CPU, trace_id="8" * 32, service="dice-roller", cause="cpu", function=None)
    assert named.code == unnamed.code == RIGHT and "most in burn_cpu_for_fault" in unnamed.text


def test_cpu_or_wait_each_wrong_answer(compose):
    sandbox = cpu_sandbox(compose, cpu_ms=650)
    answer = {"trace_id": "8" * 32, "service": "dice-roller", "cause": "cpu", "function": None}
    fast = check("cpu-or-wait", sandbox, CPU, **{**answer, "trace_id": "9" * 32})
    assert_true_to_the_sandbox(fast, sandbox, "cpu-or-wait")
    assert "not one of the slow ones" in fast.text
    hop = check("cpu-or-wait", sandbox, CPU, **{**answer, "service": "frontend"})
    assert_true_to_the_sandbox(hop, sandbox, "cpu-or-wait")
    assert number_in(hop.text, "ms of its own") == round(own("frontend", sandbox.traces["8" * 32].spans))
    cause = check("cpu-or-wait", sandbox, CPU, **{**answer, "cause": "wait"})
    assert_true_to_the_sandbox(cause, sandbox, "cpu-or-wait")
    assert ("Profiles for this span" if compose else "`· cpu` line") in cause.text
    function = check("cpu-or-wait", sandbox, CPU, **{**answer, "function": "dumps"})
    assert_true_to_the_sandbox(function, sandbox, "cpu-or-wait")
    assert "not mostly in dumps" in function.text and "burn_cpu_for_fault" not in function.text


def test_cpu_or_wait_a_waiting_hop_read_as_computing(compose):
    sandbox = cpu_sandbox(compose, cpu_ms=0)
    situation = {**CPU, "cause": "wait"}
    answer = {"trace_id": "8" * 32, "service": "dice-roller"}
    assert check("cpu-or-wait", sandbox, situation, **answer, cause="wait", function=None).code == RIGHT
    wrong = check("cpu-or-wait", sandbox, situation, **answer, cause="cpu", function="burn_cpu_for_fault")
    assert_true_to_the_sandbox(wrong, sandbox, "cpu-or-wait")


def test_cpu_or_wait_a_profile_on_its_way_is_not_yet():
    sandbox = cpu_sandbox(False, cpu_ms=0, ended_seconds_ago=1)
    verdict = check("cpu-or-wait", sandbox, CPU, trace_id="8" * 32, service="dice-roller", cause="cpu", function=None)
    assert verdict.code == CANNOT_CHECK and "not arrived yet" in verdict.text


# ---- what `start` and `show` print: the sandbox's own addresses

@pytest.mark.parametrize("lab", list(LABS))
def test_where_to_look_names_the_sandboxs_own_addresses(lab):
    situation = {"started": STARTED, "trace_id": "4" * 32}
    make_run, compose = RecordedSandbox(), RecordedSandbox(compose=True)
    under_make_run = LABS[lab].where(make_run, situation)
    for text in (under_make_run, LABS[lab].where(compose, situation)):
        assert not re.search(r"https?://\S*[.,;:)]($|\s)", text), "a link runs into its punctuation"
    assert "Grafana" not in under_make_run and "3200" not in under_make_run and "8104" not in under_make_run
    assert any(address in under_make_run for address in (TEMPO, *make_run.urls.values(), make_run.run["logs"]))
    under_compose = LABS[lab].where(compose, situation)
    assert "make run" not in under_compose and "127.0.0.1" not in under_compose
    assert "http://localhost:" in under_compose


def test_cpu_or_wait_a_long_roll_is_the_rolls_own_wait_not_the_hops(compose):
    """The roller's `roll die` (its simulated roll, up to a second) outlasts a 500 ms fault at the
    die service: the hint speaks of the hops' SERVER spans, as the check does, and stays true."""
    trace_id = "1" * 32
    sandbox = RecordedSandbox([roll(trace_id, die_service=500, rolling=900, lab="cpu-or-wait")],
                              profiles={}, compose=compose)
    situation = {"service": "die-service", "ms": 500, "cause": "wait"}
    verdict = check("cpu-or-wait", sandbox, situation, trace_id=trace_id, service="dice-roller", cause="wait",
                    function=None)
    assert_true_to_the_sandbox(verdict, sandbox, "cpu-or-wait")
    spans = sandbox.traces[trace_id].spans
    assert number_in(verdict.text, "ms of its own") == round(own("dice-roller", spans)) < own("die-service", spans)


def test_cpu_or_wait_under_make_run_with_a_pyroscope_of_the_learners_names_that_one():
    sandbox = RecordedSandbox()
    sandbox.pyroscope = ""  # make run with the learner's own PYROSCOPE_SERVER_ADDRESS keeps no profiles
    where = LABS["cpu-or-wait"].where(sandbox, {"started": STARTED})
    assert "PYROSCOPE_SERVER_ADDRESS" in where and "· cpu" not in where and "Pyroscope API" not in where
