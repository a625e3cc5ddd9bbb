"""One percentile for the whole project, checked where the usual methods disagree."""

import pytest

from bench.load import Answer, LoadResult
from ops.percentiles import nearest_rank
from traffic.summary import Outcome, summarize


@pytest.mark.parametrize(
    "values, share, expected",
    [
        ([1, 2, 3, 4, 5], 0.5, 3),  # rounding half to even would say 2; interpolation 3.0
        ([1, 2, 3, 4], 0.5, 2),  # interpolation would say 2.5
        ([1, 2, 3, 4], 0.75, 3),  # interpolation 3.25
        (list(range(1, 21)), 0.95, 19),  # interpolation 19.05
        (list(range(1, 101)), 0.07, 7),  # 0.07 * 100 is 7.000000000000001 in floating point
        ([7], 0.99, 7),
        ([1, 2], 1.0, 2),
        ([], 0.5, None),
    ],
)
def test_nearest_rank(values, share, expected):
    assert nearest_rank(values, share) == expected


def test_the_benchmark_and_the_traffic_summary_agree_on_small_samples():
    seconds = [0.1, 0.2, 0.3, 0.4, 0.5]
    load = LoadResult.of([Answer(s, 1.0, 200, None) for s in seconds], started_at=0.0, deadline=2.0)
    summary = summarize([Outcome(0, "fair", 200, s, None) for s in seconds], 5, 1.0, "http://grafana:3000")
    assert load.percentile(0.5) == summary["latency_seconds"]["p50"] == 0.3
