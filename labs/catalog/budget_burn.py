"""The budget-burn lab: which objective burns its error budget, how fast, and why?"""

import math
import time
from urllib.parse import urlencode

from labs.lab import CANNOT_CHECK, RIGHT, TRAFFIC_SECONDS, WRONG, Lab, Option, SetUpFailed, Verdict
from labs.sandbox import Unreachable
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND


class BudgetBurn(Lab):
    name = "budget-burn"
    title = "Which objective burns its error budget, how fast, and why?"
    goal = ("One hop fails, or is slow, for a share of the rolls. Find which of the roll journey's objectives burns "
            "its error budget, how fast over the last hour, and the hop responsible.")
    todo = ("Traffic is rolling in the background. Give Prometheus a minute, then read the burn rates, and follow "
            "the failures or the time down the chain.")
    answer = ("--objective roll-availability|roll-latency --burn-rate RATE --culprit SERVICE (the burn rate over the "
              "last hour, to one decimal, as Prometheus has had it in the last two minutes, ±5 %)")
    explanation = ("An objective turns \"is something broken?\" into \"how much of this month's allowance of failure "
                   "is going, and how fast?\". The burn rate is the error ratio divided by the budget: 1 spends it in "
                   "30 days, 14.4 over an hour spends 2 % of it, which is worth waking someone for. A die's own "
                   "simulated failures (risky's die_failed) are left out: they are the die doing what it was asked. "
                   "The hop to blame is then the usual reading: the deepest service whose own answers fail, or "
                   "whose own answers are slow.")
    options = (Option("--objective", str, "OBJECTIVE", "roll-availability or roll-latency",
                      choices=("roll-availability", "roll-latency")),
               Option("--burn-rate", float, "RATE", "its burn rate over the last hour, to one decimal"),
               Option("--culprit", str, "SERVICE",
                      "the hop that fails or is slow: frontend, dice-roller or die-service"))
    SHARES = (0.1, 0.15, 0.2, 0.25, 0.3)
    # The chain from the user down: the deepest hop whose own answers fail (or are slow) is where it starts.
    CHAIN = (FRONTEND, DICE_ROLLER, DIE_SERVICE)
    BURN_RATES = "slo:sli_error:ratio_rate1h / on(slo) slo:error_budget:ratio"
    BURN_RATE = "slo:sli_error:ratio_rate1h{{slo=\"{slo}\"}} / on(slo) slo:error_budget:ratio"
    # Each service's own bad answers since the lab began: its 5xx, or its answers slower than the
    # latency objective's 1.5 s (a bucket of http_request_duration_seconds), by Prometheus job.
    BAD_ANSWERS = {
        "roll-availability": 'sum by (job) (increase(http_requests_total{{status=~"5.."}}[{window}s])) > 0',
        "roll-latency": ('sum by (job) (increase(http_request_duration_seconds_count[{window}s])) - sum by (job) '
                         '(increase(http_request_duration_seconds_bucket{{le="1.5"}}[{window}s])) > 0'),
    }
    TOLERANCE = 0.05
    # A reading of the last two minutes counts down to this share of the burn rate now.
    EARLIEST_SHARE = 0.8
    # A Prometheus that has just started evaluates its rules within one interval (15 s).
    RULES_WAIT_SECONDS = 20

    def where(self, sandbox, situation):
        if sandbox.is_compose:
            return ("Grafana's dashboard, its \"Service-level objectives\" row (budget left, burn rate per window):\n"
                    f"{sandbox.dashboard}\n"
                    f"or Explore → Prometheus: {self.BURN_RATES}; then the \"5xx rate by service\" and \"Latency "
                    "p50 / p95 / p99 by service\" panels. docs/slo.md explains the numbers.")
        if sandbox.prometheus:
            return ("make run's Prometheus, the burn rates:\n"
                    f"{sandbox.prometheus}/graph?{urlencode({'g0.expr': self.BURN_RATES, 'g0.tab': '1'})}\n"
                    "then each service's own answers: its 5xx (http_requests_total by status) and its answers "
                    "slower than 1.5 s (http_request_duration_seconds). docs/slo.md explains the numbers.")
        return ("make run's Prometheus, which this lab reads, is not running: install it (apt install prometheus "
                "prometheus-alertmanager) and restart make run. Meanwhile each service's own counters:\n"
                f"{sandbox.metrics_link(FRONTEND.name)}")

    def start(self, sandbox, rng, traffic_log):
        deadline = time.monotonic() + self.RULES_WAIT_SECONDS
        while not self._rules_evaluated(sandbox):
            if time.monotonic() > deadline:
                raise SetUpFailed(f"the Prometheus at {sandbox.prometheus} has not loaded the SLO rules "
                                  "(stack/prometheus/rules/slo.yml)")
            time.sleep(0.5)
        objective = rng.choice(["roll-availability", "roll-latency"])
        if objective == "roll-availability":
            hop, fault = rng.choice(self.CHAIN).name, f"error:{rng.choice([500, 502, 503, 504])}"
        else:
            # Slower than 1.5 s, and under the caller's timeout: the die service's delay would race the
            # roller's 2 s, so the slow hop is one of the other two.
            hop, fault = rng.choice(self.CHAIN[:2]).name, f"delay:{rng.randrange(1700, 2600, 100)}"
        share = rng.choice(self.SHARES)
        # What burns already, from earlier traffic (another lab's, say): the briefing says so, since it
        # shows beside the lab's own burn until it leaves the hour.
        before = {slo: rate for slo, rate in self._burn_rates(sandbox).items() if rate > 1}
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "4", "--think-min", "0.05", "--think-max", "0.3",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair,coin", "--fault-rate",
                                    str(share), faults=[f"{hop}={fault}"])
        return {"objective": objective, "hop": hop, "fault": fault, "share": share, "traffic_pid": pid,
                "burning_before": before}

    def _burn_rates(self, sandbox):
        """{objective: its burn rate over the last hour}, as Prometheus has it now."""
        return {labels["slo"]: value for labels, value in sandbox.promql(self.BURN_RATES) if not math.isnan(value)}

    @staticmethod
    def _rules_evaluated(sandbox):
        try:
            objectives = {labels.get("slo") for labels, _ in sandbox.promql("slo:objective:ratio")}
        except Unreachable as problem:
            raise SetUpFailed(str(problem)) from None
        return objectives == {"roll-availability", "roll-latency"}

    def briefing(self, situation):
        text = "Prometheus scrapes and evaluates every 15 s: the burn rates show after a minute or so."
        before = situation.get("burning_before") or {}
        if before:
            text += ("\nBefore the lab began, earlier traffic (another lab's, say) already burned "
                     + " and ".join(f"{slo} {rate:.1f}x" for slo, rate in sorted(before.items()))
                     + " over the last hour: that fades as it leaves the hour, while the lab's own burn grows, "
                       "first over the last 5 minutes (slo:sli_error:ratio_rate5m). A fresh make run starts clean.")
        return text

    def check(self, sandbox, situation, answer):
        burning = self._burn_rates(sandbox)
        if burning.get(situation["objective"], 0) <= 1:
            return Verdict(CANNOT_CHECK, "Prometheus has not seen enough of the lab's rolls yet (it scrapes every 15 s "
                                         "and needs two scrapes for a rate): check again in a minute.")
        if answer.objective != situation["objective"]:
            return Verdict(WRONG, f"{answer.objective} burns its budget {burning.get(answer.objective, 0):.1f}x as "
                                  "fast as 30 days allow: not the objective this lab burns. Compare both objectives' "
                                  "burn rates over the last 5 minutes, which show what the rolls do now: "
                                  "slo:sli_error:ratio_rate5m / on(slo) slo:error_budget:ratio.")
        low, high = self._burn_rate_range(sandbox, answer.objective, burning[answer.objective])
        if not low * (1 - self.TOLERANCE) - 0.05 <= answer.burn_rate <= high * (1 + self.TOLERANCE) + 0.05:
            budget = 0.005 if answer.objective == "roll-availability" else 0.01
            side = "higher" if answer.burn_rate < low else "lower"
            return Verdict(WRONG, f"Right objective; its burn rate over the last hour is {side} than "
                                  f"{answer.burn_rate:g}, by more than {self.TOLERANCE:.0%}. It is the error ratio "
                                  f"over the last hour divided by the error budget ({budget}, 1 - the target): "
                                  f"{self.BURN_RATE.format(slo=answer.objective)}.")
        culprit = self._deepest_bad_hop(sandbox, situation)
        if answer.culprit != culprit:
            return Verdict(WRONG, self._culprit_hint(answer.culprit, situation["objective"]))
        return Verdict(RIGHT, f"Right: {answer.objective} burns its budget {burning[answer.objective]:.1f}x as fast as "
                              f"30 days allow (at this rate a whole month's budget lasts "
                              f"{30 / burning[answer.objective]:.1f} days), from "
                              f"the {answer.culprit}, the deepest hop whose own answers "
                              + ("fail" if answer.objective == "roll-availability" else "are slow")
                              + f": the lab broke it for {situation['share']:.0%} of the rolls.")

    def _deepest_bad_hop(self, sandbox, situation):
        """The deepest service of the chain whose own answers went bad (by the objective's measure)
        since the lab began, as Prometheus counts them; None when none did."""
        window = max(60, round(time.time() - situation.get("started", time.time() - 3600)))
        bad = {labels.get("job") for labels, _ in
               sandbox.promql(self.BAD_ANSWERS[situation["objective"]].format(window=window))}
        return next((service.name for service in reversed(self.CHAIN) if service.container in bad), None)

    def _burn_rate_range(self, sandbox, objective, now):
        """The lowest and highest the hour's burn rate was over the last two minutes, as Prometheus computed
        it: the subquery's steps, and `now`, the newest value (evaluated after the last step). Never lower
        than EARLIEST_SHARE of now: while the lab's first minutes fill the hour, the rate climbs from 0,
        and "any reading since" would take any number at all (a newcomer's 0.05 was right)."""
        expression = self.BURN_RATE.format(slo=objective)
        found = [now]
        for function in ("min", "max"):
            found += [value for _, value in sandbox.promql(f"{function}_over_time(({expression})[2m:15s])")]
        return max(min(found), self.EARLIEST_SHARE * now), max(found)

    def _culprit_hint(self, named, objective):
        names = [service.name for service in self.CHAIN]
        if named not in names:
            return (f"{named} is not a hop of the chain ({', '.join(names)}). If it is a die: its failures are "
                    "its own, simulated ones (die_failed), which roll-availability leaves out.")
        if objective == "roll-availability":
            return (f"The {named} is not where the failures start. A failure travels up the chain to the user (a 5xx "
                    "deep down becomes a 502 above it): the deepest service whose own answers are 5xx is where it "
                    "starts. sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m]))")
        return (f"The {named} is not where the time goes. A caller is as slow as its callee and more: the deepest "
                "service whose own answers are slow holds the time. Compare the services' p95, "
                "histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket"
                "{route!~\"/metrics|/healthz|/readyz\"}[5m]))), or a slow roll's trace: the span whose children do "
                "not cover its time.")
