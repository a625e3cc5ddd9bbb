"""The benchmark in its short mode: proves that it runs and that its figures hold together.
It judges no speed: CI machines are too noisy for that (docs/performance.md)."""

import json
import subprocess
import sys

import pytest

from ops.services import SPANS_PER_ROLL
from runtime import REPO

pytestmark = pytest.mark.slow


def test_short_benchmark_runs_every_scenario(tmp_path):
    output = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--short", "--json", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "targets:" in run.stdout and "rolls/s" in run.stdout
    report = json.loads(output.read_text())
    assert set(report["scenarios"]) == {
        "floor", "delay", "zero_delay", "zero_delay_untraced", "zero_delay_profiled", "floor_postgres",
        "zero_delay_postgres", "scale_out", "crowd_50", "crowd_100"}
    assert (report["scenarios"]["crowd_50"]["clients"], report["scenarios"]["crowd_100"]["clients"]) == (50, 100)
    for name, figures in report["scenarios"].items():
        assert figures["rolls"] > 0 and figures["errors"] == 0, name
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"], name
        assert set(figures["peak_rss_mb"]) == {"die-service", "dice-roller", "frontend"}
        assert all(memory["worker"] > 0 for memory in figures["peak_rss_mb"].values())
        assert all(ms > 0 for ms in figures["cpu_ms_per_roll"].values())
        if name not in ("zero_delay_untraced", "floor", "floor_postgres"):  # every finished roll's spans arrived
            assert figures["spans_lost"] == 0 and figures["spans_expected"] == SPANS_PER_ROLL * figures["rolls"]
            # The query, from its span, within the die service's answer.
            assert 0 < figures["query_span_ms"]["p50"] <= figures["die_service_span_ms"]["p50"], name
    # A batch can never be quicker than its slowest roll: each ratio is at least 1.
    batches = report["batches"]
    assert batches["repeats"] == 2 and batches["speed_up"] > 1
    assert 1 <= batches["batch_over_slowest_roll"] <= batches["batch_over_slowest_roll_max"]
    assert 0 < batches["batch_ms"]["p50"] <= batches["batch_ms"]["p99"] < batches["sequence_ms"]["p99"]
    targets = {target["target"] for target in report["targets"]}
    assert "8. batch of 10 / 10 rolls in a row: speed-up >= 5" in targets
    # What observability costs: the stack against the bare chain of the same frameworks.
    assert {
        "9. 2. no delay, telemetry off / 0. bare chain (the floor) >= 0.8",
        "9. 2. no delay, telemetry on / 0. bare chain (the floor) >= 0.5",
        "9. 3. no delay, telemetry on, PostgreSQL / 0. bare chain, PostgreSQL >= 0.5",
        "10. the query's p50 <= 2 ms (2. no delay, telemetry on)",
        "10. the query's p50 <= 3 ms (3. no delay, telemetry on, PostgreSQL)",
        "11. CPU per roll, profiles on / off <= 1.05",
    } <= targets
    assert report["layers"] == {}  # the short mode skips the profile pass
    # The floor and the two no-delay scenarios ran side by side, in two turns each.
    assert report["settings"]["turns"] == 2
    assert "3. no span lost" in targets and "2. telemetry on / off >= 0.75" in targets
    assert {"6. achieved / ideal >= 0.9", "7. achieved / ideal >= 0.85", "7. p99 <= 1500 ms"} <= targets
