"""The budget-burn lab, in process: what it sets up, and its check against Prometheus' answers
(shaped as its query API gives them), each way the learner can be right or wrong. Played end to
end under make run, with a real Prometheus, by tests/test_labs.py (make test-e2e)."""

import math
import random
from argparse import Namespace

import pytest

from labs.catalog.budget_burn import BudgetBurn
from labs.lab import CANNOT_CHECK, RIGHT, WRONG, SetUpFailed
from labs.sandbox import Unreachable


class FakeSandbox:
    """Prometheus' answers: the hour's burn rate of each objective now, its lowest and highest over
    the last two minutes, and the jobs whose own answers went bad (5xx, or slower than 1.5 s)."""

    prometheus = "http://127.0.0.1:9090"

    def __init__(self, burning=None, low=None, high=None, bad=(),
                 objectives=("roll-availability", "roll-latency")):
        self.burning, self.low, self.high, self.bad, self.objectives = burning or {}, low, high, bad, objectives
        self.traffic = self.faults = None

    def promql(self, query):
        if query == "slo:objective:ratio":
            return [({"slo": slo}, 0.99) for slo in self.objectives]
        if query.startswith(("min_over_time", "max_over_time")):
            value = self.low if query.startswith("min") else self.high
            return [] if value is None else [({}, value)]
        if "http_requests_total" in query or "http_request_duration_seconds" in query:
            return [({"job": job}, 12.0) for job in self.bad]
        if query == "slo:sli_error:ratio_rate1h / on(slo) slo:error_budget:ratio":
            return [({"slo": slo}, value) for slo, value in self.burning.items()]
        raise AssertionError(f"unexpected query {query}")

    def start_traffic(self, log_path, lab, *arguments, faults=()):
        self.traffic, self.faults = arguments, faults
        return 4242


SITUATION = {"objective": "roll-availability", "hop": "dice-roller", "fault": "error:503", "share": 0.2,
             "traffic_pid": 4242, "started": 1_790_000_000}


def check(sandbox, situation=SITUATION, **answer):
    answer = {"objective": "roll-availability", "burn_rate": 40.0, "culprit": "dice-roller", **answer}
    return BudgetBurn().check(sandbox, situation, Namespace(**answer))


def burning_roller(**overrides):
    return FakeSandbox(**{"burning": {"roll-availability": 40.2, "roll-latency": 0.0}, "low": 39.0, "high": 41.0,
                          "bad": ["dice-roller-stage3", "frontend-stage3"], **overrides})


def test_the_objective_its_burn_rate_and_the_hop_are_right():
    verdict = check(burning_roller())
    assert verdict.code == RIGHT
    assert "roll-availability burns its budget 40.2x" in verdict.text and "budget lasts 0.7 days" in verdict.text


def test_the_newest_burn_rate_counts_though_the_two_minutes_steps_came_before_it():
    """The subquery's steps are aligned to 15 s: the newest evaluation falls after the last of them."""
    assert check(burning_roller(burning={"roll-availability": 45.0}), burn_rate=45.0).code == RIGHT
    assert check(burning_roller(burning={"roll-availability": 45.0}), burn_rate=48.0).code == WRONG


def test_the_burn_rate_read_a_few_minutes_ago_within_five_percent_is_right():
    assert check(burning_roller(), burn_rate=37.2).code == RIGHT  # 39.0 less 5 %, and the rounding
    assert check(burning_roller(), burn_rate=43.0).code == RIGHT


@pytest.mark.parametrize("burn_rate", [36.0, 44.0, 4.0, 0.2])
def test_a_burn_rate_off_by_more_gets_how_it_is_computed_not_the_number(burn_rate):
    verdict = check(burning_roller(), burn_rate=burn_rate)
    assert verdict.code == WRONG and "error budget (0.005" in verdict.text
    assert "40" not in verdict.text and "39" not in verdict.text


def test_the_other_objective_is_wrong_with_a_hint_to_compare_what_burns_now():
    verdict = check(burning_roller(), objective="roll-latency")
    assert verdict.code == WRONG and "slo:sli_error:ratio_rate5m" in verdict.text


@pytest.mark.parametrize("culprit", ["frontend", "die-service"])
def test_another_hop_is_wrong_and_the_hint_says_how_to_find_the_one(culprit):
    verdict = check(burning_roller(), culprit=culprit)
    assert verdict.code == WRONG and "deepest service whose own answers are 5xx" in verdict.text
    assert "dice-roller" not in verdict.text


def test_a_slow_hop_is_found_by_its_own_time():
    situation = {**SITUATION, "objective": "roll-latency", "fault": "delay:2000", "hop": "frontend"}
    sandbox = burning_roller(burning={"roll-availability": 0.0, "roll-latency": 21.0}, low=20.0, high=22.0,
                             bad=["frontend-stage3"])
    assert check(sandbox, situation, objective="roll-latency", burn_rate=21.0, culprit="frontend").code == RIGHT
    verdict = check(sandbox, situation, objective="roll-latency", burn_rate=21.0, culprit="dice-roller")
    assert verdict.code == WRONG and "deepest service whose own answers are slow" in verdict.text
    # A query the learner can run where they are (make run has Prometheus, not the dashboard).
    assert "dashboard" not in verdict.text and "histogram_quantile(0.95, sum by (job, le)" in verdict.text


def test_a_die_is_not_a_hop_and_its_own_failures_do_not_count():
    verdict = check(burning_roller(), culprit="risky")
    assert verdict.code == WRONG and "die_failed" in verdict.text


def test_the_hop_is_read_from_prometheus_not_from_the_labs_own_choice():
    """The deepest hop whose own answers Prometheus counts as bad is the answer: here the 5xx start
    at the frontend, whatever the lab chose."""
    assert check(burning_roller(bad=["frontend-stage3"])).code == WRONG
    assert check(burning_roller(bad=["frontend-stage3"]), culprit="frontend").code == RIGHT


@pytest.mark.parametrize("burning", [{}, {"roll-availability": 0.4}, {"roll-availability": math.nan}])
def test_before_prometheus_has_seen_the_burn_it_cannot_check_yet(burning):
    verdict = check(burning_roller(burning=burning))
    assert verdict.code == CANNOT_CHECK and "check again in a minute" in verdict.text


@pytest.mark.parametrize("seed", range(12))
def test_start_sets_one_hop_failing_or_slow_for_a_share_of_the_rolls(seed, tmp_path):
    sandbox = FakeSandbox()
    situation = BudgetBurn().start(sandbox, random.Random(seed), tmp_path / "traffic.log")
    arguments = dict(zip(sandbox.traffic[::2], sandbox.traffic[1::2], strict=True))
    assert "--fault" not in arguments  # a lab's fault never shows in `ps`: on the generator's standard input
    assert sandbox.faults == [f"{situation['hop']}={situation['fault']}"]
    assert float(arguments["--fault-rate"]) == situation["share"] and 0.1 <= situation["share"] <= 0.3
    assert arguments["--dice"] == "fair,coin"  # dice that never fail by themselves: every 5xx is the hop's
    kind, value = situation["fault"].split(":")
    if situation["objective"] == "roll-availability":
        assert kind == "error" and int(value) in (500, 502, 503, 504)
    else:  # slower than 1.5 s, and never at the die service, whose delay would race the roller's 2 s timeout
        assert kind == "delay" and 1500 < int(value) <= 2500 and situation["hop"] != "die-service"


def test_start_says_what_burned_before_it_began(tmp_path):
    """An earlier lab's burn shows in the hour's burn rates beside this lab's own: the briefing says so."""
    lab = BudgetBurn()
    situation = lab.start(FakeSandbox(burning={"roll-latency": 4.64, "roll-availability": 0.3}), random.Random(1),
                          tmp_path / "traffic.log")
    assert situation["burning_before"] == {"roll-latency": 4.64}
    assert "already burned roll-latency 4.6x over the last hour" in lab.briefing(situation)
    clean = lab.start(FakeSandbox(burning={"roll-latency": 0.0}), random.Random(1), tmp_path / "traffic.log")
    assert "already" not in lab.briefing(clean)


def test_start_without_prometheus_says_what_it_needs(tmp_path):
    class NoPrometheus(FakeSandbox):
        prometheus = None

        def promql(self, query):
            raise Unreachable("this make run has no Prometheus, and this lab asks it: install Debian's")

    with pytest.raises(SetUpFailed, match="no Prometheus"):
        BudgetBurn().start(NoPrometheus(), random.Random(1), tmp_path / "traffic.log")


def test_start_against_a_prometheus_without_the_rules_says_so(tmp_path):
    lab = BudgetBurn()
    lab.RULES_WAIT_SECONDS = 1  # a Prometheus just started has them within an evaluation interval
    with pytest.raises(SetUpFailed, match="has not loaded the SLO rules"):
        lab.start(FakeSandbox(objectives=()), random.Random(1), tmp_path / "traffic.log")


def test_a_reading_from_before_the_burn_built_up_is_not_right():
    """A young lab: the hour's rate climbed from 0 in the last two minutes. A number from the
    climb's foot (a newcomer's 0.05, 1, 5) is no reading of the burn rate; one near now is."""
    climbing = burning_roller(burning={"roll-availability": 24.8}, low=0.0, high=24.8)
    for far_below in (0.05, 1.0, 5.0, 18.0):
        assert check(climbing, burn_rate=far_below).code == WRONG, far_below
    for near in (20.0, 23.0, 24.8, 26.0):
        assert check(climbing, burn_rate=near).code == RIGHT, near
