from bench.load import Answer, LoadResult
from bench.report import render_table, targets


def answers(*seconds_and_finish):
    return [Answer(seconds, finished_at, 200, None) for seconds, finished_at in seconds_and_finish]


def test_percentiles_are_nearest_rank():
    result = LoadResult.of(answers(*[(n / 100, 1.0) for n in range(1, 101)]), started_at=0.0, deadline=10.0)
    assert result.percentile(0.50) == 0.50 and result.percentile(0.99) == 0.99 and result.percentile(1.0) == 1.0


def test_throughput_counts_only_answers_within_the_window():
    # Two answers inside a 2 s window, one finishing after the deadline.
    result = LoadResult.of(answers((0.5, 0.5), (0.5, 1.5), (0.9, 2.4)), started_at=0.0, deadline=2.0)
    assert result.throughput == 1.0 and result.errors == 0


def test_windows_taken_in_turns_add_up_to_one():
    first = LoadResult.of(answers((0.5, 0.5), (0.5, 1.5), (0.9, 2.4)), started_at=0.0, deadline=2.0)
    second = LoadResult.of(answers((0.2, 10.2), (0.3, 10.5), (0.4, 10.9), (0.1, 11.0)), started_at=10.0, deadline=11.0)
    both = first + second
    # 2 + 4 answers within 2 + 1 s; the percentiles over all seven.
    assert both.throughput == 2.0 and len(both.answers) == 7 and both.percentile(1.0) == 0.9


def test_targets_report_what_is_met_and_missed():
    scenario = {"rolls_per_second": 19.5, "ideal_rolls_per_second": 20.0, "p99_ms": 1300.0, "errors": 0,
                "spans_lost": 0, "spans_expected": 60, "peak_rss_mb": {"frontend": {"master": 25.0, "worker": 130.0}}}
    met = {target["target"]: target["met"] for target in targets({"delay": scenario})}
    assert met["1. achieved / ideal >= 0.95"] and not met["1. p99 <= 1200 ms"]
    assert met["3. no span lost"] and not met["4. frontend <= 120 MB RSS (largest process)"]


def test_the_layer_table_adds_the_three_services_up():
    services = {"die-service": {"tracing": 0.25, "logging": 0.125, "database": 0.5},
                "dice-roller": {"tracing": 0.5, "app": 0.25}, "frontend": {"tracing": 0.5, "framework": 1.0}}
    report = {"scenarios": {}, "targets": [], "settings": {"clients": 10, "seconds": 30},
              "machine": {"cpus": 2, "python": "3.11"}, "layers": {"zero_delay": {"title": "2. on", **services}}}
    [all_three] = [line.split() for line in render_table(report).splitlines() if "all three" in line]
    # tracing, metrics, logging, our middleware, database, app, framework, other, total
    assert all_three[-9:] == ["1.250", "0.000", "0.125", "0.000", "0.500", "0.250", "1.000", "0.000", "3.125"]
