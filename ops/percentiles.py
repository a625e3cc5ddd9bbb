"""Nearest-rank percentiles: the one definition the traffic generator's summary and the
benchmark share, so that a p95 means the same thing in both."""

import math


def nearest_rank(sorted_values, share):
    """The smallest value with at least `share` (0..1] of the values at or below it:
    p50 of [1, 2, 3, 4, 5] is 3, p95 of 1..20 is 19. None when there are no values."""
    if not sorted_values:
        return None
    # round() first: 0.07 * 100 is 7.000000000000001 in floating point, not 7.
    return sorted_values[max(0, math.ceil(round(share * len(sorted_values), 9)) - 1)]


def percentiles_ms(seconds, shares=(50, 95, 99), digits=1):
    """{"p50": ms, ...} of durations given in seconds, by nearest rank, in milliseconds rounded to
    `digits`; {} when there are none."""
    ordered = sorted(seconds)
    return {f"p{share}": round(nearest_rank(ordered, share / 100) * 1000, digits) for share in shares} if ordered \
        else {}
