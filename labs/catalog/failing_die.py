"""The failing-die lab: which die fails, and how often?"""

import math

from labs.lab import CANNOT_CHECK, RIGHT, TRAFFIC_SECONDS, WRONG, Lab, Option, SetUpFailed, Verdict, share
from labs.sandbox import SqlFailed
from ops.services import DICE_ROLLER


class FailingDie(Lab):
    name = "failing-die"
    title = "Which die fails, and how often?"
    goal = ("Three new dice are being rolled. One of them fails far more often than a die should. "
            "Find it, and its error rate, from the metrics.")
    todo = "Traffic rolls the three new dice in the background. Give it a minute, then read the metrics."
    answer = ("--die DIE --error-rate RATE (errors / all rolls of that die, 0 to 1 or a percentage, within ±0.05, "
              "or more while there are few rolls)")
    explanation = ("A rate is a ratio of two counters: failed rolls over all rolls of the die. The labels make "
                   "it one query per die, and the die with the outlying ratio is the one to look at: no trace "
                   "needed, the metrics find it, then an exemplar or a TraceQL query shows one failure.")
    options = (Option("--die", str, "DIE", "the die that fails"),
               Option("--error-rate", share, "RATE", "its share of failed rolls, 0 to 1 (or a percentage)"))
    NAMES = ("amber", "basalt", "cobalt", "garnet", "jade", "onyx", "quartz", "topaz")
    LEAST_ROLLS = 40
    TOLERANCE = 0.05

    def where(self, sandbox, situation):
        if sandbox.is_compose:
            return ("Grafana's dashboard, its \"Rolls\" row: \"Error rate by die\":\n"
                    f"{sandbox.dashboard}\n"
                    "or Explore → Prometheus: sum by (die_type, result) (dice_rolls_total).")
        return ("The dice roller's metrics, dice_rolls_total by die_type and result:\n"
                f"{sandbox.metrics_link(DICE_ROLLER.name)}")

    def start(self, sandbox, rng, traffic_log):
        dice = self._new_names(sandbox, rng)
        failing, rate = rng.choice(dice), rng.choice([0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5])
        inserted = []
        try:
            for die in dice:
                sandbox.run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) "
                                "VALUES (:die, :faces, :rate)",
                                {"die": die, "faces": "[1, 2, 3, 4, 5, 6]", "rate": rate if die == failing else 0})
                inserted.append(die)
        except SqlFailed as error:
            for die in inserted:  # nothing left behind
                sandbox.run_sql("DELETE FROM die_specifications WHERE identifier = :die", {"die": die})
            raise SetUpFailed(f"the lab's dice could not be added to the die service's database: {error}") from None
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "4", "--think-min", "0.05", "--think-max",
                                    "0.2", "--duration", str(TRAFFIC_SECONDS), "--dice", ",".join(inserted))
        return {"dice": inserted, "failing": failing, "rate": rate, "inserted": inserted, "traffic_pid": pid}

    def _new_names(self, sandbox, rng):
        """Three names no die has had in this sandbox: no counter of the roller's names them, so an
        earlier run's rolls cannot stand out."""
        chosen = []
        while len(chosen) < 3:
            name = f"{rng.choice(self.NAMES)}-{rng.randrange(100, 1000)}"
            if name not in chosen and not self._rolls(sandbox, name):
                chosen.append(name)
        return chosen

    def briefing(self, situation):
        return f"The lab's dice: {', '.join(situation['dice'])}"

    def check(self, sandbox, situation, answer):
        rolls = {die: self._rolls(sandbox, die) for die in situation["dice"]}
        if min(sum(counts.values()) for counts in rolls.values()) < self.LEAST_ROLLS:
            return Verdict(CANNOT_CHECK, "Not enough rolls yet to tell a rate apart: wait half a minute and check "
                                         "again.")
        if answer.die not in rolls:
            return Verdict(WRONG, f"{answer.die} is not one of this lab's dice ({', '.join(situation['dice'])}).")
        counts = rolls[answer.die]
        measured = counts.get("error", 0) / sum(counts.values())
        if answer.die != situation["failing"] or measured < 0.1:
            return Verdict(WRONG, f"{answer.die} failed {counts.get('error', 0):.0f} of {sum(counts.values()):.0f} "
                                  "rolls: no more than a die should. Compare the three dice's share of failed rolls.")
        rolled = sum(counts.values())
        # The counters have grown since the learner read them: two standard errors of the rate at
        # this many rolls, and never less than TOLERANCE.
        tolerance = max(self.TOLERANCE, 2 * math.sqrt(measured * (1 - measured) / rolled))
        if abs(answer.error_rate - measured) > tolerance:
            return Verdict(WRONG, f"Right die; the rate is off by more than {tolerance:.2f} ({answer.error_rate:.2f} "
                                  f"is too {'high' if answer.error_rate > measured else 'low'}). Divide its failed "
                                  "rolls by all its rolls (result=\"error\" over both results).")
        return Verdict(RIGHT, f"Right: {answer.die} failed {counts.get('error', 0):.0f} of "
                              f"{sum(counts.values()):.0f} rolls, {measured:.2f} (it was set to fail "
                              f"{situation['rate']:.2f} of the time).")

    @staticmethod
    def _rolls(sandbox, die):
        series = sandbox.counter_values(DICE_ROLLER.name, "dice_rolls_total", die_type=die)
        return {dict(labels).get("result"): value for labels, value in series.items()}
