"""make run's Pyroscope (runtime/backends/pyroscope.py), in process: the flame graph in Pyroscope's
shape, label selectors, the recent window. The real agent's pushes are in tests/test_profiles.py."""

import pytest

from runtime.backends.pyroscope import CpuSample, ProfileStore, flamegraph, parse_label_selector


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


def test_the_store_keeps_a_recent_window_only():
    now = [1000.0]
    store = ProfileStore(window_seconds=60, max_samples=3, clock=lambda: now[0])
    store.add([CpuSample("a", {}, ("f",), 10, end_ns=int(990e9))], {"a": int(990e9)})
    now[0] = 1100.0
    store.add([CpuSample("a", {}, ("g",), 10, end_ns=int(1100e9))], {"a": int(1100e9)})
    assert [s.stack for s in store.select({})] == [("g",)]
    store.add([CpuSample("a", {}, (name,), 1, end_ns=int(1100e9)) for name in "xyz"])
    assert len(store.select({})) == 3
    assert store.received_until("a") == int(1100e9) and store.received_until("b") == 0


def test_a_spans_samples_leave_with_the_window():
    now = [1000.0]
    store = ProfileStore(window_seconds=60, max_samples=2, clock=lambda: now[0])
    store.add([CpuSample("a", {"span_id": "s1"}, ("f",), 10, end_ns=int(1000e9)),
               CpuSample("a", {"span_id": "s2"}, ("g",), 10, end_ns=int(1000e9)),
               CpuSample("a", {"span_id": "s1"}, ("h",), 10, end_ns=int(1000e9))])
    assert [s.stack for s in store.select({}, span_ids={"s1"})] == [("h",)]  # the oldest went
    now[0] = 1100.0
    store.add([])
    assert store.select({}, span_ids={"s1", "s2"}) == [] and store.select({}) == []
