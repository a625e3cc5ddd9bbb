"""`make run` prints each trace in the terminal (runtime/views/terminal.py) and keeps it."""

import io
import json

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from backend_apis.pyroscope import PROFILE_ID_ATTRIBUTE
from runtime.backends.otlp import OtlpReceiver
from runtime.backends.profiles import NO_AGENT_WINDOWS, PUSH_GRACE_SECONDS, CpuSample, Profile, ProfileStore
from runtime.backends.tempo import TraceStore
from runtime.launcher.telemetry import wanted
from runtime.views.log_lines import DEFAULT_SHOW, shows_trees, terminal_line
from runtime.views.terminal import MISSING_PARENT_SECONDS, PROFILE_WAIT_SECONDS, QUIET_SECONDS, TraceView
from runtime.views.tree import render_trace
from tests.otlp import make_span

MS = 1_000_000
TRACE = "7e" * 16


def hex_id(name):
    """A span id in hex for a short name of the test's ("r1")."""
    return name.encode().hex().ljust(16, "0") if name else ""


def span(span_id, parent, service, kind, name, start_ms, end_ms, status="UNSET", code=None):
    attributes = {"http.response.status_code": code} if code else {}
    return make_span(TRACE, hex_id(span_id), hex_id(parent), service, kind, name, start_ms * MS, end_ms * MS,
                     attributes, status)


BATCH = [
    span("r2", "r1", "dice-roller", "SERVER", "GET /roll-async", 2, 98, "ERROR", 500),
    span("r1", "", "frontend", "SERVER", "GET /roll-async", 0, 100, "ERROR", 500),
    span("d2", "r2", "dice-roller", "INTERNAL", "roll die", 10, 90),
    span("d1", "r2", "dice-roller", "INTERNAL", "roll die", 9, 40, "ERROR"),
]


def test_a_trace_is_a_tree_one_line_a_span():
    lines = render_trace(TRACE, BATCH).splitlines()
    assert lines[0] == f"trace {TRACE}  4 spans  100 ms  3 ERROR"
    assert [line.split()[:3] for line in lines[1:]] == [
        ["frontend", "SERVER", "GET"], ["dice-roller", "SERVER", "GET"],
        ["dice-roller", "INTERNAL", "roll"], ["dice-roller", "INTERNAL", "roll"],
    ]
    # children indented under their parent, siblings by start, each with its start and length
    assert lines[3].endswith("+   9.0    31.0 ms  ERROR") and lines[4].endswith("+  10.0    80.0 ms")
    assert lines[1].endswith("ERROR 500") and "    roll die" in lines[3]


class Clock:
    """The trace view's clock, moved by the test."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clocked():
    """A trace view on a clock the test moves, printing into a string: (view, clock, out)."""
    clock, out = Clock(), io.StringIO()
    view = TraceView(TraceStore(), out=out, clock=clock)
    yield view, clock, out
    view.close()


def test_a_trace_prints_once_no_span_has_arrived_for_a_while(clocked):
    view, clock, out = clocked
    view.add(BATCH[:2])
    clock.now = QUIET_SECONDS / 2
    view.add(BATCH[2:])
    view.flush()
    assert out.getvalue() == ""  # the trace is still arriving
    clock.now += QUIET_SECONDS
    view.flush()
    assert out.getvalue().count("trace ") == 1 and out.getvalue().count("roll die") == 2
    view.flush()
    assert out.getvalue().count("trace ") == 1  # printed once


def test_the_view_is_for_a_machine_with_no_collector_only():
    assert not wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not wanted({"OTEL_SDK_DISABLED": "true"})
    assert not wanted({"OTEL_TRACES_EXPORTER": "console"})


def test_events_and_error_type_are_shown_under_their_span():
    query = span("q1", "d1", "die-service", "CLIENT", "SELECT dice", 3, 5, "ERROR")
    query.attributes["error.type"] = "UndefinedTable"
    server = span("d1", "", "die-service", "SERVER", "GET /dice", 0, 10, "ERROR", 503)
    server.attributes["error.type"] = "503"
    server.events = [("fault injected", {"fault.kind": "error", "fault.value": "broken"}),
                     ("exception", {"exception.type": "OperationalError", "exception.stacktrace": "long"})]
    lines = render_trace(TRACE, [server, query]).splitlines()
    assert lines[1].endswith("ERROR 503")  # error.type repeats the status: not shown twice
    assert lines[2].split("·")[1].split() == ["fault", "injected", "fault.kind=error", "fault.value=broken"]
    assert lines[3].split("·")[1].split() == ["exception", "exception.type=OperationalError"]
    assert lines[4].endswith("ERROR error.type=UndefinedTable") and "SELECT dice" in lines[4]


def test_make_run_holds_no_more_traces_than_it_keeps():
    """Far more traces than the store may keep, exported as the services export them: the
    receiver holds none itself, the store the newest within its bytes: make run's memory does
    not grow with its traffic."""
    store = TraceStore(max_bytes=50_000)
    view = TraceView(store, out=io.StringIO())
    receiver = OtlpReceiver(on_spans=view.add, keep=False)
    try:
        for batch in range(30):
            request = ExportTraceServiceRequest()
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.add(key="service.name").value.string_value = "frontend"
            spans = resource_spans.scope_spans.add().spans
            for number in range(batch * 100, batch * 100 + 100):
                for span_number in (1, 2):
                    exported = spans.add(name="GET /roll", start_time_unix_nano=MS, end_time_unix_nano=2 * MS)
                    exported.trace_id = number.to_bytes(16, "big")
                    exported.span_id = (number * 4 + span_number).to_bytes(8, "big")
            answer = requests.post(f"{receiver.endpoint}/v1/traces", data=request.SerializeToString(),
                                   headers={"Content-Type": "application/x-protobuf"}, timeout=10)
            assert answer.status_code == 200
        view.flush(everything=True)
        assert receiver.traces() == {}
        kept = store.newest_first()
        assert 0 < store.size <= 50_000 and len(kept) < 3000
        assert all(len(store.get(trace_id)) == 2 for trace_id, _ in kept)
        assert kept[0][0] == (2999).to_bytes(16, "big").hex() and store.size == sum(t.size for _, t in kept)
    finally:
        receiver.close()
        view.close()


def test_a_trace_whose_caller_exports_later_is_printed_once_with_its_root(clocked):
    """The traffic generator's `user rolls die` is the root, exported after the services' spans."""
    view, clock, out = clocked
    caller = span("u1", "", "traffic-generator", "INTERNAL", "user rolls die", 0, 101)
    served = span("r0", "u1", "frontend", "SERVER", "GET /roll", 1, 100)
    view.add([served])
    clock.now = QUIET_SECONDS * 2
    view.flush()
    assert out.getvalue() == ""  # its parent has not arrived: it waits for it
    view.add([caller])
    clock.now += QUIET_SECONDS
    view.flush()
    assert out.getvalue().count("trace ") == 1 and out.getvalue().splitlines()[1].split()[:2] == [
        "traffic-generator", "INTERNAL"]


def test_a_parent_that_never_comes_holds_the_trace_for_a_while_only(clocked):
    view, clock, out = clocked
    view.add([span("r0", "u1", "frontend", "SERVER", "GET /roll", 1, 100)])
    clock.now = MISSING_PARENT_SECONDS
    view.flush()
    assert out.getvalue().count("trace ") == 1


def test_spans_arriving_after_their_trace_was_printed_join_it_and_are_not_a_second_tree(clocked):
    view, clock, out = clocked
    view.add(BATCH)
    clock.now = QUIET_SECONDS
    view.flush()
    view.add([span("d3", "r2", "dice-roller", "INTERNAL", "roll die", 11, 95)])
    clock.now += QUIET_SECONDS * 10
    view.flush()
    printed = out.getvalue().splitlines()
    assert [line for line in printed if line.startswith("trace ")] == [
        f"trace {TRACE}  4 spans  100 ms  3 ERROR",
        f"trace {TRACE}  +1 late span (dice-roller roll die), kept with it"]
    assert len(view.store.get(TRACE)) == 5  # Tempo's API has the whole trace


def test_the_times_stay_in_one_column_however_long_a_name():
    query = span("q1", "d2", "die-service", "CLIENT", "SELECT die_specifications", 5, 6)
    caller = span("u0", "", "traffic-generator", "INTERNAL", "user rolls die", 0, 101)
    BATCH_UNDER_A_CALLER = [*BATCH[:1], span("r1", "u0", "frontend", "SERVER", "GET /roll-async", 0, 100), *BATCH[2:]]
    lines = render_trace(TRACE, [caller, *BATCH_UNDER_A_CALLER,
                                    span("d2x", "d2", "die-service", "SERVER", "GET /dice", 4, 8),
                                    span("q1", "d2x", "die-service", "CLIENT", query.name, 5, 6)]).splitlines()
    columns = {line.index(" ms") for line in lines[1:] if " ms" in line}
    assert len(columns) == 1, lines


def json_line(level, message, **fields):
    return (json.dumps({"timestamp": "2026-11-27T12:03:04.123Z", "level": level, "logger": "roller.resources",
                        "message": message, "service": "dice-roller", **fields}) + "\n").encode()


def test_the_terminal_shows_the_trees_and_what_went_wrong_each_line_short():
    """make run's default: a learner reads trees, and a log line only when something went
    wrong, as one short line (the log files keep every JSON line whole)."""
    shown = terminal_line(DEFAULT_SHOW)
    assert shows_trees(DEFAULT_SHOW)
    assert shown(json_line("INFO", "Roll completed", trace_id=TRACE, roll_value=4)) is None
    assert shown(json_line("WARNING", "Die service returned error", trace_id=TRACE, status_code=404)) == \
        f"12:03:04.123Z dice-roller  WARNING  Die service returned error  trace {TRACE[:8]}"
    assert shown(json_line("ERROR", "Die service unavailable\nsecond line", exc_info="Traceback ...")) == \
        "12:03:04.123Z dice-roller  ERROR    Die service unavailable (its traceback: in the log file)"
    # A line that is not JSON (Python's own traceback, before logging is set up) is rare and matters.
    assert shown(b"Traceback (most recent call last):\n") == "Traceback (most recent call last):"


@pytest.mark.parametrize("show", ["all", "logs"])
def test_every_line_on_demand_each_one_short_line(show):
    assert shows_trees(show) == (show == "all")
    assert terminal_line(show)(json_line("INFO", "Roll completed", trace_id=TRACE, roll_value=4)) == \
        f"12:03:04.123Z dice-roller  INFO     Roll completed  trace {TRACE[:8]}"


def profiled_span(span_id, service, name, start_ms, end_ms, pid=7, parent=""):
    """A SERVER span as a profiled worker (process `pid`) exports it: pyroscope-otel's profile id on it."""
    return make_span(TRACE, hex_id(span_id), hex_id(parent), service, "SERVER", name, start_ms * MS, end_ms * MS,
                     {PROFILE_ID_ATTRIBUTE: hex_id(span_id)}, resource={"service.name": service, "process.pid": pid})


def cpu_profile(service, pid, window_end_s, span_id=None, samples=0, window_s=2):
    """A profile of `pid` for the window of `window_s` ending at `window_end_s`: `samples` 20 ms
    samples of `span_id` (with one of the worker's own, so that it is sent at all)."""
    labels = {"pid": str(pid), **({"span_id": hex_id(span_id)} if span_id else {})}
    end_ns = int(window_end_s * 1e9)
    stack = ("handle", "burn_cpu_for_fault")
    return Profile(service, end_ns - window_s * 10**9, end_ns,
                   [CpuSample(service, labels, stack, samples * 20 * MS, end_ns),
                    CpuSample(service, {"pid": str(pid)}, ("gunicorn", "run"), 20 * MS, end_ns)])


@pytest.fixture
def profiled():
    """A trace view with profiles, its clock and the profile store's one and the same, moved by
    the test: (view, profile store, clock, out)."""
    clock, out = Clock(), io.StringIO()
    profiles = ProfileStore(clock=clock, upload_seconds=2)
    view = TraceView(TraceStore(), profiles, out=out, clock=clock)
    yield view, profiles, clock, out
    view.close()


def cpu_lines(out):
    return [line.split("· cpu  ", 1)[1] for line in out.getvalue().splitlines() if "· cpu  " in line]


def test_another_workers_profile_does_not_tell_a_spans_cpu_and_a_pending_line_is_printed_again(profiled):
    """Two workers of the dice roller, sending every 10 s (the agent's default): worker 8's
    profile covering the span's end is no news of worker 7's span, which waits for its own
    worker's; once the trace is printed without it, its CPU line comes again when it arrives."""
    view, profiles, clock, out = profiled
    profiles.add([cpu_profile("dice-roller", 7, 0, window_s=10)])  # both have sent before
    view.add([profiled_span("r1", "dice-roller", "GET /roll", 100, 450, pid=7)])
    profiles.add([cpu_profile("dice-roller", 8, 10, window_s=10)])  # the other worker's window [0, 10)
    clock.now = 1.4  # the trace is complete (quiet), its profile not in: it waits
    view.flush()
    assert out.getvalue() == ""
    clock.now = 1.4 + PROFILE_WAIT_SECONDS  # printed without it
    view.flush()
    assert cpu_lines(out) == ["its profile has not arrived"]
    profiles.add([cpu_profile("dice-roller", 7, 10, span_id="r1", samples=15, window_s=10)])  # its own worker's
    view.flush()
    assert out.getvalue().splitlines()[-1] == (
        f"trace {TRACE}  dice-roller GET /roll  · cpu  300 ms: burn_cpu_for_fault 300 ms")
    view.flush()
    assert len(cpu_lines(out)) == 2  # printed again once only
    # The trace page, opened now, says the same.
    assert "300 ms: burn_cpu_for_fault 300 ms" in view.page(TRACE)[1]


def test_a_silent_window_resolves_to_no_samples_and_a_process_that_never_sent_is_said_apart(profiled):
    """The agent sends nothing for a window without a sample: a waiting span on a worker idle
    after it gets no profile at all. Once its window has closed (and a moment for the push),
    its CPU is known: none. A process whose agent has never sent anything is no silence."""
    view, profiles, clock, out = profiled
    profiles.add([cpu_profile("dice-roller", 7, 2)])  # worker 7's agent sends (a window before the span)
    view.add([profiled_span("r1", "dice-roller", "GET /roll", 2100, 2400, pid=7),
              profiled_span("d1", "die-service", "GET /dice", 2200, 2300, pid=9, parent="r1")])
    clock.now = 4 + PUSH_GRACE_SECONDS - 0.1
    view.flush()
    assert out.getvalue() == ""  # complete, but their window [2, 4) may still have a profile coming
    clock.now = 4 + PUSH_GRACE_SECONDS
    view.flush()
    assert cpu_lines(out) == []  # worker 7's is known; pid 9 has sent nothing yet: it may have just started
    clock.now = 4 + PUSH_GRACE_SECONDS + PROFILE_WAIT_SECONDS
    view.flush()  # printed, pid 9's line pending
    assert cpu_lines(out) == ["no samples (the span waited, or computed for less than 20 ms)",
                              "its profile has not arrived"]
    clock.now = 4 + PUSH_GRACE_SECONDS + NO_AGENT_WINDOWS * 2
    view.flush()  # a few windows later, still nothing from it: no agent, printed again
    assert cpu_lines(out)[-1] == "no profile: its process (pid 9) has sent none (is its Pyroscope agent sending?)"


def test_a_span_no_agent_profiled_says_so_at_once_and_profiles_sent_elsewhere_make_no_cpu_line(profiled):
    """runserver runs no agent: its spans carry no profile id, and wait for nothing."""
    view, profiles, clock, out = profiled
    view.add([span("f1", "", "frontend", "SERVER", "GET /roll", 100, 200)])
    clock.now = QUIET_SECONDS + 0.3
    view.flush()
    assert cpu_lines(out) == ["not profiled (no Pyroscope agent ran in its process, as under runserver)"]
    # make run with the user's PYROSCOPE_SERVER_ADDRESS: no profiles here, nothing waited for, nothing said.
    elsewhere, printed = TraceView(TraceStore(), None, out=io.StringIO(), clock=clock), None
    try:
        elsewhere.add([profiled_span("r1", "dice-roller", "GET /roll", 0, 100)])
        clock.now += QUIET_SECONDS + 0.1
        elsewhere.flush()
        printed = elsewhere._out.getvalue()
    finally:
        elsewhere.close()
    assert printed.startswith(f"trace {TRACE}") and "cpu" not in printed


def test_a_spans_cpu_is_never_more_than_it_ran_plus_one_sampling_step(profiled):
    """A 7.4 ms span whose samples say 140 ms (the sampler catching up on its thread after a
    freeze, seen in a real run): its CPU is at most its own time, said as such."""
    view, profiles, clock, out = profiled
    short = make_span(TRACE, hex_id("r1"), "", "dice-roller", "SERVER", "GET /roll", 100 * MS, int(107.4 * MS),
                      {PROFILE_ID_ATTRIBUTE: hex_id("r1")}, resource={"service.name": "dice-roller", "process.pid": 7})
    one_sample = make_span(TRACE, hex_id("r2"), hex_id("r1"), "die-service", "SERVER", "GET /dice", 101 * MS,
                           103 * MS, {PROFILE_ID_ATTRIBUTE: hex_id("r2")},
                           resource={"service.name": "die-service", "process.pid": 9})
    view.add([short, one_sample])
    profiles.add([cpu_profile("dice-roller", 7, 2, span_id="r1", samples=7),
                  cpu_profile("die-service", 9, 2, span_id="r2", samples=1)])
    clock.now = QUIET_SECONDS + 0.3
    view.flush()
    assert cpu_lines(out) == [
        "8 ms at most (sampled 140 ms, more than it ran); on top: burn_cpu_for_fault",
        "20 ms: burn_cpu_for_fault 20 ms"]  # one sample in a 2 ms span: a sampling step, as sampled
    assert ">≤ 8 ms</td>" in view.page(TRACE)[1]
