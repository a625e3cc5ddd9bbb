"""A learner solving each lab from the telemetry alone: Tempo's API, the profiles, the metrics, the log lines,
read through labs.sandbox (make run's or compose's, the same calls) — never from the lab's own
state. The tests run it under make run (tests/test_labs.py), the stack check under compose.

Each function gets what `start` printed (the briefing: the trace or the dice it names), waits for
what it needs and returns (the right answer's options, a wrong answer's
options, a text the wrong answer's hint must not contain)."""

import math
import re
import time

from backend_apis.pyroscope import hottest_function
from backend_apis.tempo import spans_of
from labs.catalog.cpu_or_wait import spent_computing
from labs.traces import own_ms
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND

SERVICES = ("frontend", "dice-roller", "die-service")
# The roll's chain from the user down, with each hop's Prometheus job.
CHAIN = tuple((service.name, service.container) for service in (FRONTEND, DICE_ROLLER, DIE_SERVICE))


class NotFound(Exception):
    """The telemetry did not show what the learner looked for in time."""


def find_trace(sandbox, matches, timeout=30, **search):
    """(trace id, spans) of the first trace of a Tempo search whose spans `matches(spans)`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for summary in sandbox.search(**search):
            spans = spans_of(sandbox.get_trace(summary["traceID"]))
            if spans and matches(spans):
                return summary["traceID"], spans
        time.sleep(0.5)
    raise NotFound(f"no trace matched a search of {search}")


def slow_hop(sandbox, since, briefing):
    """The slow trace's span with the most time of its own names the service."""
    def slow(spans):
        return max(own_ms(span, spans) for span in spans if span.kind == "SERVER") >= 1000

    trace_id, spans = find_trace(sandbox, slow, minDuration="1s", start=int(since))
    servers = [span for span in spans if span.kind == "SERVER"]
    culprit = max(servers, key=lambda span: own_ms(span, spans)).service
    other = next(name for name in SERVICES if name != culprit)
    return (["--service", culprit, "--trace-id", trace_id], ["--service", other, "--trace-id", trace_id], culprit)


def failing_die(sandbox, since, briefing, least_rolls=40, timeout=60):
    """Of the dice `start` named, the one whose share of failed rolls stands out, from the dice
    roller's dice_rolls_total."""
    lab_dice = re.search(r"The lab's dice: (.+)", briefing)[1].split(", ")
    deadline = time.monotonic() + timeout
    while True:
        rolls = {}
        for labels, value in sandbox.counter_values("dice-roller", "dice_rolls_total").items():
            labels = dict(labels)
            if labels["die_type"] in lab_dice:
                rolls.setdefault(labels["die_type"], {})[labels["result"]] = value
        shares = {die: counts.get("error", 0) / sum(counts.values()) for die, counts in rolls.items()
                  if sum(counts.values()) >= least_rolls}
        if len(shares) >= 3 and max(shares.values()) >= 0.15:
            break
        if time.monotonic() > deadline:
            raise NotFound(f"no die stands out yet: {shares}")
        time.sleep(1)
    die = max(shares, key=shares.get)
    rate = shares[die]
    return (["--die", die, "--error-rate", f"{rate:.2f}"], ["--die", die, "--error-rate", f"{min(rate + 0.2, 1):.2f}"],
            f"{rate:.2f}")


def slowest_in_batch(sandbox, since, briefing):
    """The `roll die` span that lasted longest in a batch's trace."""
    def batch(spans):
        return len([span for span in spans if span.name == "roll die"]) >= 3

    trace_id, spans = find_trace(sandbox, batch, tags="http.route=/roll-async", start=int(since))
    rolls = sorted((span for span in spans if span.name == "roll die"), key=lambda span: span.ms)
    slowest, other = rolls[-1].attributes["die.roll_index"], rolls[0].attributes["die.roll_index"]
    right = ["--trace-id", trace_id, "--roll-index", str(slowest)]
    return right, ["--trace-id", trace_id, "--roll-index", str(other)], f"roll {slowest}"


def dependency_down(sandbox, since, briefing):
    """A failed roll's trace: the frontend's status, and the length of the roller's call."""
    def failed(spans):
        return any(span.service == "dice-roller" and span.kind == "CLIENT" and span.status == "ERROR" for span in spans)

    trace_id, spans = find_trace(sandbox, failed, minDuration="1s", start=int(since))
    [frontend] = [span for span in spans if (span.service, span.kind) == ("frontend", "SERVER")]
    [call] = [span for span in spans if (span.service, span.kind) == ("dice-roller", "CLIENT")]
    status = frontend.attributes["http.response.status_code"]
    return (["--status", str(status), "--waited-ms", f"{call.ms:.0f}"], ["--status", "500", "--waited-ms",
                                                                         f"{call.ms:.0f}"], str(status))


def logs_for_a_trace(sandbox, since, briefing, timeout=30):
    """The `failed` field of the roller's log line of the trace `start` named."""
    trace_id = re.search(r"trace id: ([0-9a-f]{32})", briefing)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in sandbox.log_lines("dice-roller", trace_id):
            if line.get("message") == "Async roll batch failed":
                failed = line["failed"]
                return ["--failed", str(failed)], ["--failed", str(failed + 1)], f"failed={failed}"
        time.sleep(0.5)
    raise NotFound(f"no log line of the roller for {trace_id}")


def slow_query(sandbox, since, briefing):
    """The database query span of a slow roll."""
    def slow(spans):
        return any(span.kind == "CLIENT" and "db.system.name" in span.attributes and span.ms >= 300 for span in spans)

    trace_id, spans = find_trace(sandbox, slow, minDuration="300ms", start=int(since))
    [query] = [span for span in spans if span.kind == "CLIENT" and "db.system.name" in span.attributes]
    return (["--trace-id", trace_id, "--span-name", query.name], ["--trace-id", trace_id, "--span-name", "GET /dice"],
            query.name)


def cpu_or_wait(sandbox, since, briefing, timeout=30):
    """The slow hop of a slow trace, and from its own profile whether it computed, and where."""
    def slow(spans):
        return max(own_ms(span, spans) for span in spans if span.kind == "SERVER") >= 350

    trace_id, spans = find_trace(sandbox, slow, minDuration="400ms", start=int(since))
    hop = max((span for span in spans if span.kind == "SERVER"), key=lambda span: own_ms(span, spans))
    deadline = time.monotonic() + timeout
    while True:
        profile = sandbox.span_profile(hop.service, hop.span_id)
        computed = spent_computing(profile, own_ms(hop, spans))
        if computed or not sandbox.profile_on_its_way(hop) or time.monotonic() > deadline:
            break
        time.sleep(1)
    right = ["--trace-id", trace_id, "--service", hop.service]
    if computed:
        return ([*right, "--cause", "cpu", "--function", hottest_function(profile)], [*right, "--cause", "wait"],
                hottest_function(profile))
    return [*right, "--cause", "wait"], [*right, "--cause", "cpu", "--function", "main"], hop.service


def budget_burn(sandbox, since, briefing, timeout=180):
    """From Prometheus alone: the objective that burns now (the 5 min burn rates), its burn rate over the
    hour, and the deepest hop whose own answers fail (availability) or whose own requests are slow (latency)."""
    def burn_rates(window):
        query = f"slo:sli_error:ratio_rate{window} / on(slo) slo:error_budget:ratio"
        return {labels["slo"]: value for labels, value in sandbox.promql(query) if not math.isnan(value)}

    routes = 'route=~"/roll|/roll-async|/dice"'
    culprit_by = {
        "roll-availability": f'sum by (job) (rate(http_requests_total{{{routes}, status=~"5.."}}[1m])) > 0',
        "roll-latency": f'1 - sum by (job) (rate(http_request_duration_seconds_bucket{{{routes}, le="1.5"}}[1m])) '
                        f"/ sum by (job) (rate(http_request_duration_seconds_count{{{routes}}}[1m])) > 0.02",
    }
    deadline = time.monotonic() + timeout
    while True:
        now, hour = burn_rates("5m"), burn_rates("1h")
        objective = max(now, key=now.get) if now else None
        jobs = {labels["job"] for labels, _ in sandbox.promql(culprit_by[objective])} if objective else set()
        if objective and now[objective] > 2 and hour.get(objective, 0) > 1 and jobs:
            break
        if time.monotonic() > deadline:
            raise NotFound(f"no objective burns yet: {now}")
        time.sleep(2)
    culprit = next(name for name, job in reversed(CHAIN) if job in jobs)
    right = ["--objective", objective, "--burn-rate", f"{hour[objective]:.1f}"]
    other = next(name for name, _ in CHAIN if name != culprit)
    return [*right, "--culprit", culprit], [*right, "--culprit", other], culprit


SOLVERS = {
    "slow-hop": slow_hop, "failing-die": failing_die, "slowest-in-batch": slowest_in_batch,
    "dependency-down": dependency_down, "logs-for-a-trace": logs_for_a_trace, "slow-query": slow_query,
    "cpu-or-wait": cpu_or_wait, "budget-burn": budget_burn,
}
