"""The logs-for-a-trace lab: from a trace to its log line"""

import requests

from labs.lab import CANNOT_CHECK, RIGHT, WRONG, Lab, Option, Verdict
from labs.sandbox import Unreachable
from ops.services import DICE_ROLLER, FRONTEND


class LogsForATrace(Lab):
    name = "logs-for-a-trace"
    title = "From a trace to its log line"
    goal = ("A batch of dice failed. Its trace id is given: find the dice roller's log line of that trace that "
            "says how many of its dice failed.")
    todo = "Search the logs by the trace id (start printed it; `show` prints it again)."
    answer = "--failed N (the `failed` field of the roller's `Async roll batch failed` line)"
    explanation = ("Every log line carries the trace id of the request it was written for, so a trace leads to "
                   "its lines and a line back to its trace. The span says that something failed; the log line "
                   "says what, in the words of the code that saw it.")
    options = (Option("--failed", int, "N", "how many dice of the batch failed"),)

    def where(self, sandbox, situation):
        trace_id = situation.get("trace_id", "TRACE_ID")
        if sandbox.is_compose:
            return ("Grafana → Explore → Loki: {container_name=\"dice-roller-stage3\"} |= \"" + trace_id + "\" | "
                    "json; or, from the trace in Tempo, \"Logs for this span\":\n"
                    f"{sandbox.trace_link(trace_id)}")
        return (f"grep {trace_id} {sandbox.log_path(DICE_ROLLER.name)}\n"
                f"or the trace's page, which shows its log lines:\n{sandbox.trace_link(trace_id)}")

    def start(self, sandbox, rng, traffic_log):
        session = requests.Session()
        for _ in range(20):
            times = rng.randrange(8, 21)
            try:
                answer = session.get(f"{sandbox.urls[FRONTEND.name]}/roll-async",
                                     params={"die": "extreme", "times": times}, timeout=30)
            except requests.RequestException:
                raise Unreachable(f"the frontend does not answer at {sandbox.urls[FRONTEND.name]}") from None
            body = answer.json()
            if answer.status_code == 500 and body.get("failed") and body.get("trace_id"):
                return {"trace_id": body["trace_id"], "failed": body["failed"], "times": times}
        raise Unreachable("no batch of `extreme` failed in twenty tries: is the die service's `extreme` die there?")

    def briefing(self, situation):
        return f"The failed batch's trace id: {situation['trace_id']}"

    def check(self, sandbox, situation, answer):
        lines = [line for line in sandbox.log_lines(DICE_ROLLER.name, situation["trace_id"])
                 if line.get("message") == "Async roll batch failed"]
        if not lines:
            return Verdict(CANNOT_CHECK, "The dice roller's log line of that trace has not arrived yet: wait a few "
                                         "seconds and check again.")
        logged = lines[0]["failed"]
        if answer.failed == situation.get("times") != logged:
            return Verdict(WRONG, f"{answer.failed} is how many dice the batch rolled (its `times`), not how many "
                                  "of them failed: the roller's `Async roll batch failed` line of this trace has "
                                  "a `failed` field of its own.")
        if answer.failed != logged:
            return Verdict(WRONG, f"The roller's `Async roll batch failed` line of this trace does not say "
                                  f"failed={answer.failed}: find the line with the trace id {situation['trace_id']} "
                                  "(not another batch's) and read its `failed` field.")
        return Verdict(RIGHT, f"Right: `Async roll batch failed`, failed={logged}, trace_id "
                              f"{situation['trace_id']}.")
