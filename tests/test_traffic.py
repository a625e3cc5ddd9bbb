"""The traffic generator against the real services."""

import json
import os
import subprocess
import sys

import pytest

from harness.ports import free_port
from ops.services import SPANS_PER_ROLL, spans_per_batch
from runtime import REPO
from runtime.backends.otlp import OtlpReceiver
from tests.helpers import increase, scrape, value
from traffic.plan import Mix, make_plan

pytestmark = pytest.mark.slow


def run_traffic(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "traffic", *args], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "OTEL_SDK_DISABLED": "false", **(env or {})},
    )


def test_summary_counts_equal_the_frontends_metrics(shared_slow_stack):
    """Sixteen users rolling at once (rolls of 0..1 s): more than requests' default pool of ten connections."""
    stack = shared_slow_stack
    before = scrape(stack.frontend)
    result = run_traffic(
        "--url", stack.frontend.url, "--die-service-url", stack.die_service.url, "--users", "16", "--max-rolls", "3",
        "--think-min", "0", "--think-max", "0", "--seed", "1", "--json", "--no-trace",
        "--batch-share", "0.4", "--max-batch", "4",
    )
    assert result.returncode == 0, result.stderr
    assert "Connection pool is full" not in result.stderr
    summary = json.loads(result.stdout)
    assert 16 <= summary["rolls"] == summary["planned"] <= 48
    metrics = increase(before, scrape(stack.frontend))
    for die, statuses in summary["by_die_and_status"].items():
        for status, count in statuses.items():
            assert value(metrics, "frontend_roll_requests_total", die_type=die, status=status) == count

    def total(name):
        return sum(sample.value for (metric, _), sample in metrics.items() if metric == name)

    batches = summary["batches"]
    assert total("frontend_roll_requests_total") == summary["single_rolls"] == summary["rolls"] - batches["count"]
    assert batches["count"] >= 1 and total("async_roll_requests_total") == batches["count"]
    dice = sum(int(dict(labels)["batch_size"]) * sample.value for (metric, labels), sample in metrics.items()
               if metric == "async_roll_requests_total")
    assert dice == batches["dice"]
    assert "risky" in summary["by_die_and_status"] or "fair" in summary["by_die_and_status"]


def test_a_fault_for_an_unknown_service_is_refused_with_the_known_names():
    result = run_traffic("--fault", "die-servce=error:503", "--no-trace")
    assert result.returncode == 2 and result.stdout == ""
    [error] = [line for line in result.stderr.splitlines() if "error:" in line]
    assert "die-servce" in error and "die-service, dice-roller, frontend" in error


def test_unreachable_frontend_is_one_sentence_and_non_zero():
    result = run_traffic("--url", f"http://127.0.0.1:{free_port()}", "--no-trace")
    assert result.returncode != 0
    assert "Cannot reach the frontend at" in result.stderr and result.stdout == ""


def test_summary_trace_ids_are_traces_rooted_at_the_generator(start_stack):
    receiver = OtlpReceiver()
    try:
        otlp = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100"}
        stack = start_stack(**otlp)
        result = run_traffic(
            "--url", stack.frontend.url, "--die-service-url", stack.die_service.url, "--users", "2",
            "--max-rolls", "6", "--think-min", "0", "--think-max", "0.01", "--seed", "3", "--json",
            "--batch-share", "0.5", "--max-batch", "3", env=otlp,
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        rows = summary["slowest"] + summary["failed"] + summary["batches"]["slowest"] + summary["batches"]["failed"]
        # The roll's seven spans, or a batch's 6 + N, under the user's action and its HTTP call.
        expected = {row["trace_id"]: 2 + (SPANS_PER_ROLL if row["times"] == 1 else spans_per_batch(row["times"]))
                    for row in rows}
        assert summary["batches"]["count"] and summary["single_rolls"] and None not in expected
        traces = receiver.wait_for(lambda t: all(len(t.get(i, [])) >= n for i, n in expected.items()))
        # Every trace of the generator starts at a user's action: no stray CLIENT root.
        generator_roots = [(s.kind, s.name) for spans in traces.values() for s in spans
                           if s.service == "traffic-generator" and not s.parent_span_id]
        assert set(generator_roots) == {("INTERNAL", "user rolls die")}
        for trace_id, count in expected.items():
            spans = traces[trace_id]
            assert len(spans) == count
            roots = [span for span in spans if not span.parent_span_id]
            assert [(root.service, root.kind, root.name) for root in roots] == [
                ("traffic-generator", "INTERNAL", "user rolls die")
            ]
            [call] = [s for s in spans if s.service == "traffic-generator" and s.kind == "CLIENT"]
            assert call.parent_span_id == roots[0].span_id and call.name == "GET"
            assert call.attributes["http.request.method"] == "GET" and "url.full" in call.attributes
            frontend = next(s for s in spans if s.service == "frontend" and s.kind == "SERVER")
            assert frontend.parent_span_id == call.span_id
        stack.stop()  # while the receiver still takes the last spans: no export retries
    finally:
        receiver.close()


def test_fault_rate_breaks_the_planned_share_of_rolls(shared_stack):
    stack = shared_stack
    before = {service: scrape(service) for service in (stack.frontend, stack.die_service)}
    result = run_traffic(
        "--url", stack.frontend.url, "--die-service-url", stack.die_service.url, "--users", "4", "--max-rolls", "12",
        "--think-min", "0", "--think-max", "0", "--seed", "5", "--json", "--no-trace",
        "--fault", "die-service=error:503", "--fault-rate", "0.5",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    dice = stack.die_service.get("/dice").json()["identifiers"]
    planned = [roll for rolls in make_plan(4, 12, dice, 0, 0, 5, Mix(fault_rate=0.5)) for roll in rolls]
    faulted = sum(roll.faulted for roll in planned)
    assert summary["rolls"] == len(planned) and 0.3 <= faulted / len(planned) <= 0.7
    assert summary["by_fault"] == {"fault.die-service=error:503": faulted, "none": len(planned) - faulted}
    # Each faulted roll failed at the die service, which the roller reports as a bad gateway.
    metrics = increase(before[stack.frontend], scrape(stack.frontend))
    bad_gateway = sum(s.value for (name, labels), s in metrics.items()
                      if name == "frontend_roll_requests_total" and dict(labels)["status"] == "502")
    assert bad_gateway == faulted
    injected = increase(before[stack.die_service], scrape(stack.die_service))
    assert value(injected, "faults_injected_total", kind="error") == faulted
    link = summary["fault_traces"]["fault.die-service=error:503"]
    assert link["status"] == 502 and link["trace_url"]
