"""The slowest-in-batch lab: the roll that held a batch up"""

from labs.lab import RIGHT, TRAFFIC_SECONDS, WRONG, Lab, Option, Verdict
from roller.dice import ROLL_SPAN


class SlowestInBatch(Lab):
    name = "slowest-in-batch"
    title = "The roll that held a batch up"
    goal = ("Batches of dice are rolled at once: a batch lasts as long as its slowest roll. Pick a batch's trace "
            "and find which roll held it up.")
    todo = "Traffic rolls batches in the background. Open a batch's trace and read its `roll die` spans."
    answer = "--trace-id TRACE_ID --roll-index INDEX (a batch, and the die.roll_index of its slowest roll)"
    explanation = ("Concurrent children overlap: the parent ends with the last of them, so the slowest child is "
                   "the batch's latency, and making any other roll faster would change nothing. Fan-out "
                   "latency is a maximum, not a sum.")
    options = (Option("--trace-id", str, "TRACE_ID", "a batch's trace"),
               Option("--roll-index", int, "INDEX", "die.roll_index of the roll that made it slow"))
    search = '{resource.service.name="dice-roller" && span.http.route="/roll-async"}'

    def where(self, sandbox, situation):
        place = "Grafana → Explore → Tempo" if sandbox.is_compose else "make run's trace search"
        return (f"{place} finds the lab's batches:\n"
                f"{self.search_link(sandbox, situation.get('started'))}\n"
                f"(TraceQL: {self.search}). The `roll die` spans of a batch carry die.roll_index.")

    def start(self, sandbox, rng, traffic_log):
        biggest = rng.randrange(4, 11)
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "2", "--think-min", "0.2", "--think-max", "0.6",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair", "--batch-share", "1",
                                    "--max-batch", str(biggest))
        return {"max_batch": biggest, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = self.trace_or_verdict(sandbox, answer.trace_id, situation)
        if refusal:
            return refusal
        rolls = [s for s in spans if s.name == ROLL_SPAN and "die.roll_index" in s.attributes]
        if len(rolls) < 2:
            return Verdict(WRONG, f"That trace is not a batch: it has {len(rolls)} `roll die` span"
                                  f"{'' if len(rolls) == 1 else 's'}. A batch is a /roll-async trace with several: "
                                  f"{self.search_link(sandbox, situation.get('started'))}")
        slowest = max(rolls, key=lambda span: span.ms)
        named = [span for span in rolls if span.attributes["die.roll_index"] == answer.roll_index]
        if not named:
            return Verdict(WRONG, f"That batch rolled {len(rolls)} dice, die.roll_index 0 to {len(rolls) - 1}: "
                                  f"none is {answer.roll_index}.")
        if named[0].ms < slowest.ms:
            return Verdict(WRONG, f"Roll {answer.roll_index} took {named[0].ms:.0f} ms; another roll of that batch "
                                  "took longer. Compare the `roll die` spans' durations, not their order.")
        return Verdict(RIGHT, f"Right: roll {answer.roll_index} took {slowest.ms:.0f} ms, the longest of "
                              f"{len(rolls)}; the batch took as long.")
