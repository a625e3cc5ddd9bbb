"""make run's Pyroscope (runtime/backends/pyroscope.py, profiles.py, pprof.py), in process: the
flame graph in Pyroscope's shape, label selectors, the recent window. The real agent's pushes are
in tests/test_profiles.py."""

import gc
import time
import tracemalloc

import pytest

from runtime.backends.pprof import decode_push
from runtime.backends.profiles import (
    ARRIVED,
    NO_AGENT,
    NO_AGENT_WINDOWS,
    PUSH_GRACE_SECONDS,
    SILENT,
    WAITING,
    CpuSample,
    Profile,
    ProfileStore,
    flamegraph,
)
from runtime.backends.pyroscope import parse_label_selector
from tests.pprof import push


def sample(stack, nanoseconds, **labels):
    return CpuSample("dice-roller", labels, tuple(stack), nanoseconds, end_ns=0)


def test_a_flame_graph_in_pyroscopes_levels():
    graph = flamegraph([sample(["main", "roll", "burn"], 30), sample(["main", "roll"], 10), sample(["main", "log"], 5)])
    assert graph["names"] == ["total", "main", "roll", "log", "burn"]
    assert graph["total"] == "45" and graph["maxSelf"] == "30"
    # [offset from the left neighbour's end, total, self, name]: roll spans 0..40, log 40..45.
    assert [level["values"] for level in graph["levels"]] == [
        ["0", "45", "0", "0"], ["0", "45", "0", "1"], ["0", "40", "10", "2", "0", "5", "5", "3"],
        ["0", "30", "30", "4"],
    ]


@pytest.mark.parametrize("text, labels", [
    ('{service_name="dice-roller"}', {"service_name": "dice-roller"}),
    ('{ service_name = "a,b" , span_name="GET /roll" }', {"service_name": "a,b", "span_name": "GET /roll"}),
    ("{}", {}),
])
def test_label_selectors_are_read(text, labels):
    assert parse_label_selector(text) == labels


@pytest.mark.parametrize("text", ['service_name="x"', '{service_name=~"x"}', '{service_name="x}', "{x}"])
def test_label_selectors_other_than_equality_are_refused(text):
    with pytest.raises(ValueError):
        parse_label_selector(text)


def profile(service, pid, end_s, samples=(), window_s=2):
    """A profile of process `pid` of `service`, of the window ending at `end_s`: samples [(stack, ns, labels)]."""
    end_ns = int(end_s * 1e9)
    samples = [CpuSample(service, {"pid": pid, **labels}, tuple(stack), ns, end_ns) for stack, ns, labels in samples]
    return Profile(service, end_ns - int(window_s * 1e9), end_ns, samples)


def test_the_store_keeps_a_recent_window_only():
    now = [1000.0]
    store = ProfileStore(window_seconds=60, clock=lambda: now[0])
    store.add([profile("a", "1", 990, [(["f"], 10, {})])])
    now[0] = 1100.0
    store.add([profile("a", "1", 1100, [(["g"], 10, {})])])
    assert [s.stack for s in store.select({})] == [("g",)]
    store.add([profile("a", "1", 1100, [([name], 1, {}) for name in "xyz"])])
    assert len(store.select({})) == 4
    assert store.select({"pid": "1"}) == store.select({}) and store.select({"pid": "2"}) == []


def test_a_spans_samples_leave_with_the_window():
    now = [1000.0]
    store = ProfileStore(window_seconds=60, clock=lambda: now[0])
    store.add([profile("a", "1", 1000, [(["f"], 10, {"span_id": "s1"}), (["g"], 10, {"span_id": "s2"})])])
    assert [s.stack for s in store.select({}, span_ids={"s1"})] == [("f",)]
    now[0] = 1100.0
    store.add([])
    assert store.select({}, span_ids={"s1", "s2"}) == [] and store.select({}) == [] and store.bytes == 0


# Stacks as deep as the services' (37 frames on average), of a few hundred distinct ones.
STACKS = [[f"/work/sandbox/.venv/lib/python3.11/site-packages/module_{depth}.py:function_{depth}_{variant % 7}"
           for depth in range(30 + variant % 15)] for variant in range(300)]


def busy_worker(count):
    """`count` profiles as a busy worker sends them, each of 4 spans with 4 samples each, every
    name a string of its own as a push decodes it."""
    start_s = time.time() // 2 * 2
    for number in range(count):
        samples = [([name.encode().decode() for name in STACKS[(number * 16 + index) % len(STACKS)]], 20_000_000,
                    {"span_id": f"{number:08x}{index // 4:08x}", "span_name": "GET /roll",
                     "trace_id": f"{number:016x}{index // 4:016x}"}) for index in range(16)]
        yield profile("dice-roller", "4242", start_s + 2 * number, samples)


def test_the_store_is_bounded_in_bytes_and_pushes_share_their_names_and_stacks():
    """What a store of samples takes is counted, and holds: tracemalloc sees no more than it
    counts, however many pushes come; a stack that comes again, for other spans, is not kept twice."""
    store = ProfileStore(max_bytes=2**20)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for pushed in busy_worker(150):  # 2,400 samples: more than 1 MiB would keep
            store.add([pushed])
        gc.collect()
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.8 * 2**20 < store.bytes <= 2**20  # full, and within its bound
    assert taken <= store.bytes, (taken, store.bytes)  # what is counted is a bound of what is taken
    # Each sample costs its own few bytes and its span's labels: names and stacks are shared.
    assert taken / store.sample_count < 600, (taken / store.sample_count, store.bytes / store.sample_count)
    kept = store.select({})
    assert len({id(sample.stack) for sample in kept}) == len({sample.stack for sample in kept})
    assert len({id(name) for sample in kept for name in sample.stack}) == len(
        {name for sample in kept for name in sample.stack})
    # The window turns over: the newest are kept, whole spans of them.
    newest = kept[-1].labels["span_id"]
    assert newest == f"{149:08x}{3:08x}" and len(store.select({}, span_ids={newest})) == 4


def test_a_push_is_read_as_the_agent_sends_it():
    body = push("dice-roller", [(["main", "handle", "burn_cpu_for_fault"], 15, {"pid": "7", "span_id": "ab" * 8}),
                                (["main", "idle"], 1, {"pid": "7"})], start_ns=10 * 10**9, end_ns=12 * 10**9)
    [pushed] = decode_push(body)
    assert (pushed.service, pushed.pid, pushed.start_ns, pushed.end_ns) == ("dice-roller", "7", 10 * 10**9, 12 * 10**9)
    assert [(sample.stack, sample.nanoseconds, sample.labels) for sample in pushed.samples] == [
        (("main", "handle", "burn_cpu_for_fault"), 300_000_000, {"pid": "7", "span_id": "ab" * 8}),
        (("main", "idle"), 20_000_000, {"pid": "7"})]


def test_a_process_s_samples_have_arrived_when_that_process_sent_them_not_another():
    """Arrival per process (the `pid` label the services' agents send): a worker's profile says
    nothing of another worker's spans. A worker sends nothing for a window without a sample:
    once the window of a span's end has closed (and a moment for the push), what is kept of it
    is all of it, unless the process is stopped; a process that has never sent a profile is told apart."""
    now, frozen = [1000.0], set()
    store = ProfileStore(clock=lambda: now[0], upload_seconds=2, stopped=lambda pid: str(pid) in frozen)
    span_end = int(1001.5e9)  # in the window [1000, 1002)
    store.add([profile("dice-roller", "1", 1000, [(["f"], 10, {})]),
               profile("dice-roller", "2", 1002, [(["f"], 10, {})])])
    assert store.coverage("dice-roller", 2, span_end) == ARRIVED
    assert store.coverage("dice-roller", 1, span_end) == WAITING  # worker 2's profile is not worker 1's
    now[0] = 1002 + PUSH_GRACE_SECONDS - 0.1
    assert store.coverage("dice-roller", 1, span_end) == WAITING  # its profile may be on its way
    now[0] = 1002 + PUSH_GRACE_SECONDS
    assert store.coverage("dice-roller", 1, span_end) == SILENT  # it sent nothing for that window
    # A process that never sent anything may be one just started, its first upload late: waited
    # for a few windows more, then said to have no agent.
    assert store.coverage("dice-roller", 3, span_end) == WAITING
    now[0] = 1002 + PUSH_GRACE_SECONDS + NO_AGENT_WINDOWS * 2
    assert store.coverage("dice-roller", 3, span_end) == NO_AGENT
    assert store.coverage("frontend", 1, span_end) == NO_AGENT
    assert store.coverage("dice-roller", 1, span_end) == SILENT
    # An agent that does not say its pid: its service's one process, whatever pid its spans say.
    store.add([Profile("learners-app", 1000 * 10**9, 1002 * 10**9, [CpuSample("learners-app", {}, ("f",), 10, 0)])])
    assert store.coverage("learners-app", 4321, span_end) == store.coverage("learners-app", None, span_end) == ARRIVED
    frozen.add("1")
    assert store.coverage("dice-roller", 1, span_end) == WAITING  # stopped (make freeze): it sends it once resumed
