"""Telemetry across process boundaries: several workers, a real Prometheus, no collector, tracing off."""

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.ports import free_port
from harness.stack import Stack
from runtime import REPO
from runtime.backends.otlp import OtlpReceiver
from tests.helpers import poll_until, scrape, value

pytestmark = pytest.mark.slow

DEFAULT_SPECIFICATIONS = REPO / "diespec" / "die_specifications.json"



def test_counters_add_up_across_two_workers_and_a_named_folder_keeps_the_users_files(tmp_path):
    """The roller writes to a folder the user named, holding files of their own: only the
    files prometheus_client writes are ever removed (an earlier run's, at start). The other
    two make folders of their own, removed at exit. A HUP (new workers, the documented way to add
    a die) loses no count, in either kind of folder, and leaves no folder behind."""
    folder = tmp_path / "my-metrics"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "archive").mkdir()
    (folder / "counter_999999.db").write_bytes(b"an earlier run's counters")
    temporary = tmp_path / "tmp"  # where the services make their own folders
    temporary.mkdir()
    stack = Stack(tmp_path, WEB_CONCURRENCY=2, TMPDIR=temporary)
    stack.roller.env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    stack.start()
    try:
        assert not (folder / "counter_999999.db").exists()
        rolls = 40
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: stack.frontend.get("/roll", params={"die": "fair"}).status_code,
                                     range(rolls)))
        assert statuses == [200] * rolls
        batches = 6
        with ThreadPoolExecutor(max_workers=3) as pool:
            statuses = list(pool.map(
                lambda _: stack.frontend.get("/roll-async", params={"die": "fair", "times": 5}).status_code,
                range(batches)))
        assert statuses == [200] * batches
        frontend, roller, die_service = scrape(stack.frontend), scrape(stack.roller), scrape(stack.die_service)
        assert value(frontend, "async_roll_requests_total", batch_size="5", status="200") == batches
        assert value(roller, "async_rolls_total", die_type="fair", result="success") == 5 * batches
        assert value(roller, "async_roll_batch_size_count") == batches
        assert value(roller, "async_roll_batch_size_sum") == 5 * batches
        assert value(roller, "async_rolls_in_progress") == 0  # a livesum of both workers' gauges
        assert value(frontend, "frontend_roll_requests_total", die_type="fair", status="200") == rolls
        assert value(frontend, "http_requests_total", method="GET", route="/roll", status="200") == rolls
        assert value(roller, "dice_rolls_total", die_type="fair", result="success") == rolls
        assert value(roller, "dice_roll_value_count", die_type="fair") == rolls
        # One specification per roll, and one per batch
        assert value(die_service, "die_specifications_requested_total", identifier="fair") == rolls + batches
        # Each worker loaded the specifications; the gauge shows the value, not the sum.
        assert value(die_service, "die_specifications_loaded") == len(json.loads(DEFAULT_SPECIFICATIONS.read_text()))
        for service in stack.services:
            booted = [line for line in service.log_lines() if "Booting worker" in line]
            assert len(booted) == 2, service.name
        assert len(list(temporary.glob("prometheus-multiproc-*"))) == 2  # the frontend's, the die service's

        for service in (stack.roller, stack.die_service):
            service.process.send_signal(signal.SIGHUP)
        assert poll_until(lambda: all(_boots(service) == 4 for service in (stack.roller, stack.die_service)))
        assert poll_until(lambda: stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200)
        roller, die_service = scrape(stack.roller), scrape(stack.die_service)
        assert value(roller, "dice_rolls_total", die_type="fair", result="success") == rolls + 1
        assert value(die_service, "die_specifications_requested_total", identifier="fair") == rolls + batches + 1
        assert (folder / "notes.txt").read_text() == "mine"
        assert len(list(temporary.glob("prometheus-multiproc-*"))) == 2
    finally:
        stack.stop()
    assert folder.is_dir()
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "archive").is_dir()
    assert list(temporary.glob("prometheus-multiproc-*")) == []


def _boots(service):
    return sum("Booting worker" in line for line in service.log_lines())


def test_requests_in_flight_rise_while_slow_rolls_wait_and_fall_back_to_zero(shared_slow_stack):
    """Saturation: the gauge counts the rolls being handled, summed over each service's two workers."""
    stack = shared_slow_stack
    rolls = 8
    with ThreadPoolExecutor(max_workers=rolls) as pool:
        answers = [pool.submit(stack.frontend.get, "/roll", params={"die": "fair"}) for _ in range(rolls)]
        # Uniform 0..1 s each: the chance that fewer than two are still waiting now is tiny.
        waiting = {service.name: value(scrape(service), "http_requests_in_flight")
                   for service in (stack.frontend, stack.roller)}
        statuses = [answer.result().status_code for answer in answers]
    assert statuses == [200] * rolls
    assert 2 <= waiting["frontend"] <= rolls and 2 <= waiting["dice-roller"] <= rolls, waiting
    for service in stack.services:
        assert value(scrape(service), "http_requests_in_flight") == 0, service.name


def test_no_collector_one_clear_line_and_full_service(start_stack):
    closed = f"http://127.0.0.1:{free_port()}"
    stack = start_stack(
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=closed,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_EXPORTER_OTLP_TIMEOUT="2",  # time for one retry (after 1 s), whose warning says why
    )
    statuses = [stack.frontend.get("/roll", params={"die": "fair"}, timeout=2).status_code for _ in range(30)]
    assert statuses == [200] * 30  # the service does not wait for its traces

    def told(service):
        return any("Traces cannot be exported" in line for line in service.log_lines())

    poll_until(lambda: all(told(service) for service in stack.services))
    for service in stack.services:
        records = [json.loads(line) for line in service.log_lines()]
        where = [r for r in records if r["message"].startswith("Exporting traces to")]
        assert len(where) == 1 and where[0]["endpoint"] == f"{closed}/v1/traces"
        failures = [r for r in records if r["message"].startswith("Traces cannot be exported to")]
        assert len(failures) == 1, service.name
        # The exporter's own reason, once: here the connection was refused.
        assert "Connection refused" in failures[0]["reason"], failures[0]
        assert not [r for r in records if r["logger"].startswith("opentelemetry")]


def test_sdk_disabled_switches_tracing_off(start_stack):
    receiver = OtlpReceiver()
    try:
        stack = start_stack(
            OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        answers = [stack.frontend.get("/roll", params={"die": "fair"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3
        assert all(a.json()["trace_id"] is None for a in answers)
        # No baggage can travel: the page offers no fault, and a fault asked for is refused.
        assert 'id="fault"' not in stack.frontend.get("/").text
        refused = stack.frontend.get("/roll", params={"die": "fair", "fault": "die-service-fails"})
        assert refused.status_code == 400 and refused.json()["error"] == "faults_disabled"
        stack.stop()  # an SDK that were on would export its last spans now
        assert receiver.traces() == {}
        for service in stack.services:
            assert not [line for line in service.log_lines() if '"trace_id"' in line]
            assert any("Tracing is off" in line for line in service.log_lines())
    finally:
        receiver.close()
