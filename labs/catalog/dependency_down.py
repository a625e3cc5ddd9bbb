"""The dependency-down lab: a dependency that stops answering"""

from backend_apis.tempo import spans_of
from labs.lab import CANNOT_CHECK, RIGHT, TRAFFIC_SECONDS, WRONG, Lab, Option, Verdict
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND


class DependencyDown(Lab):
    name = "dependency-down"
    title = "A dependency that stops answering"
    goal = ("The die service has frozen: it accepts connections and never answers. What do the users get, and "
            "how long does the dice roller wait before it gives up?")
    todo = "Roll in the page, or watch the background traffic's traces."
    answer = "--status CODE --waited-ms MS (what the frontend answered; the roller's wait, within 25 %)"
    explanation = ("A frozen dependency is worse than a dead one: a refused connection fails at once, a frozen "
                   "one costs every caller its whole timeout. The CLIENT span's length is that timeout "
                   "(DIE_SERVICE_TIMEOUT_SECONDS), and the answer is 503: unavailable, not a bug of the roller.")
    options = (Option("--status", int, "CODE", "the HTTP status the frontend answered"),
               Option("--waited-ms", float, "MS", "how long the roller waited for the die service"))
    search = '{resource.service.name="dice-roller" && kind=client && status=error}'

    def where(self, sandbox, situation):
        link = self.search_link(sandbox, situation.get("started"))
        page = f"The page shows what a roll gets:\n{sandbox.urls[FRONTEND.name]}\n"
        if sandbox.is_compose:
            return (page + "Grafana → Explore → Tempo finds the lab's failed calls to the die service:\n"
                    f"{link}\n"
                    "and the dashboard's \"Dice roller → die service p95\" shows their length:\n"
                    f"{sandbox.dashboard}")
        return (page + "make run's trace search finds the lab's failed calls to the die service (the dice roller's "
                f"CLIENT span is its call):\n{link}")

    def start(self, sandbox, rng, traffic_log):
        die = rng.choice(["fair", "coin", "d20"])
        sandbox.freeze(DIE_SERVICE.name)
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "2", "--think-min", "0.5", "--think-max", "1",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", die)
        return {"die": die, "frozen": [DIE_SERVICE.name], "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        failed = self._failed_rolls(sandbox, situation.get("started", 0))
        if not failed:
            return Verdict(CANNOT_CHECK, "No roll has failed yet: wait a few seconds (or roll in the page) and "
                                         "check again.")
        statuses = {status for status, _ in failed}
        waits = sorted(wait for _, wait in failed)
        waited = waits[len(waits) // 2]
        if answer.status not in statuses:
            return Verdict(WRONG, f"The frontend did not answer {answer.status} to the rolls that failed here: read "
                                  "its answer in the page, or the frontend's SERVER span's http.response.status_code.")
        if abs(answer.waited_ms - waited) > 0.25 * waited:
            return Verdict(WRONG, f"The status is right; the wait is not: {answer.waited_ms:.0f} ms is "
                                  f"{'more' if answer.waited_ms > waited else 'less'} than the roller waited, by "
                                  "over 25 %. Read the length of the dice roller's CLIENT span, its call to the die "
                                  "service.")
        return Verdict(RIGHT, f"Right: {answer.status}, after the roller waited {waited:.0f} ms for a die service "
                              "that never answered.")

    @staticmethod
    def _failed_rolls(sandbox, since):
        """[(the frontend's status, the roller's wait in ms)] of the rolls that failed since `since`."""
        failed = []
        # Every slow trace since the start, read whole: the failed rolls are told by their spans.
        for summary in sandbox.search(minDuration="500ms", start=int(since), limit=100):
            spans = spans_of(sandbox.get_trace(summary["traceID"]))
            calls = [s for s in spans if (s.service, s.kind) == (DICE_ROLLER.name, "CLIENT") and s.status == "ERROR"]
            fronts = [s for s in spans if (s.service, s.kind) == (FRONTEND.name, "SERVER")]
            if calls and fronts:
                failed.append((fronts[0].attributes.get("http.response.status_code"), calls[0].ms))
        return failed
