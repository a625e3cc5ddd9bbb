"""The labs: each sets up a situation chosen at random, asks a question, and checks the answer
against the telemetry (the trace, the metrics, the log line), never against what it chose alone.

A lab's `start` returns its situation (what it chose, and what `stop` must undo: a traffic
generator's pid, a frozen service, dice it added); `check` returns a Verdict."""

import math
import time
from dataclasses import dataclass

import requests

from backend_apis.pyroscope import hottest_function
from backend_apis.tempo import spans_of
from labs.sandbox import SqlFailed, Unreachable
from labs.traces import own_ms
from ops.faults import DATABASE
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND

RIGHT, WRONG, CANNOT_CHECK = 0, 1, 2
# How the README runs the labs: every message names the same command.
COMMAND = ".venv/bin/python -m labs"
# Background traffic ends by itself after this long, should `stop` never come.
TRAFFIC_SECONDS = 900


@dataclass(frozen=True)
class Verdict:
    code: int  # RIGHT, WRONG or CANNOT_CHECK: the exit code of `check`
    text: str


@dataclass(frozen=True)
class Option:
    flag: str  # --service
    kind: type
    metavar: str
    help: str
    required: bool = True
    choices: tuple = ()


class SetUpFailed(Exception):
    """A lab's situation could not be set up: the message says why; nothing of it is left behind."""


class Lab:
    name = title = goal = todo = where = answer = explanation = ""
    options = ()

    def start(self, sandbox, rng, traffic_log):
        raise NotImplementedError

    def check(self, sandbox, situation, answer):
        raise NotImplementedError

    def briefing(self, situation):
        """What `start` prints besides the goal: for labs whose question names a trace."""
        return ""

    def usage(self):
        return f"{COMMAND} check {self.name} " + " ".join(f"{o.flag} {o.metavar}" for o in self.options)


# A trace whose spans name a parent that has not arrived is still arriving, for this long after
# its last span ended (its caller, such as the traffic generator, exports after the services);
# after that it is checked as it is.
ARRIVING_SECONDS = 15


def trace_or_verdict(sandbox, trace_id):
    """(spans, None) of the trace, or ([], the Verdict to give) when there is none to look at yet:
    never WRONG for a trace that has not (fully) arrived."""
    spans = spans_of(sandbox.get_trace(trace_id.strip().lower()))
    if not spans:
        return [], Verdict(CANNOT_CHECK, f"No trace with that id in Tempo ({sandbox.tempo}), not yet at least: a "
                                         "trace arrives a few seconds after its roll. Check again shortly, and "
                                         "copy the id from Grafana's Explore, the page's result or the terminal.")
    ids = {span.span_id for span in spans}
    orphans = [span for span in spans if span.parent_span_id and span.parent_span_id not in ids]
    if orphans and time.time() - max(span.end_ns for span in spans) / 1e9 < ARRIVING_SECONDS:
        return [], Verdict(CANNOT_CHECK, "That trace has not fully arrived yet (a span's parent is missing): "
                                         "check again in a few seconds.")
    return spans, None


class SlowHop(Lab):
    name = "slow-hop"
    title = "Find the hop that makes some rolls slow"
    goal = ("Some rolls are much slower than the rest: one hop of the chain takes its time with them. "
            "Find one such roll's trace, and the service where its time goes.")
    todo = "Traffic is rolling in the background. Find a slow trace, then the span whose own time is long."
    where = ("Grafana → Explore → Tempo: search by duration, open the slowest trace, compare each span with its "
             "children. TraceQL: {resource.service.name=\"frontend\" && kind=server && duration > 1s}. "
             "Without Docker: http://127.0.0.1:3200/api/search?minDuration=1s (make run's Tempo API).")
    answer = "--service SERVICE --trace-id TRACE_ID (a slow trace, and the service whose span holds its time)"
    explanation = ("A span's length is not its own time: the frontend's span is long whenever anything below it "
                   "is. The hop to blame is the span whose time is not covered by its children; and the "
                   "`fault injected` event on it says why here. In a real system that is where you start reading.")
    options = (Option("--service", str, "SERVICE", "frontend, dice-roller or die-service"),
               Option("--trace-id", str, "TRACE_ID", "a slow trace"))

    def start(self, sandbox, rng, traffic_log):
        service = rng.choice([FRONTEND.name, DICE_ROLLER.name, DIE_SERVICE.name])
        delay = rng.randrange(1200, 1800, 50)
        pid = sandbox.start_traffic(traffic_log, "--users", "3", "--think-min", "0.2", "--think-max", "0.8",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair",
                                    "--fault", f"{service}=delay:{delay}", "--fault-rate", "0.3")
        return {"service": service, "delay_ms": delay, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = trace_or_verdict(sandbox, answer.trace_id)
        if refusal:
            return refusal
        delayed = [s for s in spans if s.kind == "SERVER" and any(
            name == "fault injected" and attributes.get("fault.kind") == "delay" for name, attributes in s.events)]
        if not delayed:
            return Verdict(WRONG, "That trace is not one of the slow ones: none of its spans spends much time of "
                                  "its own. Look for traces that take over a second.")
        [slow] = delayed[:1]
        if answer.service != slow.service:
            own = sum(own_ms(span, spans) for span in spans if span.service == answer.service)
            return Verdict(WRONG, f"That trace is slow, but not mostly because of the {answer.service}: its spans "
                                  f"hold {own:.0f} ms of their own, another hop's more. Compare each span's length "
                                  "with its children's: the time no child covers is the span's own.")
        if slow.service != situation["service"] or own_ms(slow, spans) < situation["delay_ms"] * 0.8:
            return Verdict(WRONG, "That service's span in this trace does not hold the delay this lab set up.")
        return Verdict(RIGHT, f"Right: in trace {answer.trace_id} the {slow.service}'s span spent "
                              f"{own_ms(slow, spans):.0f} ms of its own ({slow.name}), with a `fault injected` "
                              f"event (delay {situation['delay_ms']} ms).")


class FailingDie(Lab):
    name = "failing-die"
    title = "Which die fails, and how often?"
    goal = ("Three new dice are being rolled. One of them fails far more often than a die should. "
            "Find it, and its error rate, from the metrics.")
    todo = "Traffic rolls the three new dice in the background. Give it a minute, then read the metrics."
    where = ("Grafana → the dashboard's \"Rolls\" row, \"Error rate by die\"; or Explore → Prometheus: "
             "sum by (die_type, result) (dice_rolls_total). Without Docker: "
             "http://127.0.0.1:8104/metrics, dice_rolls_total.")
    answer = ("--die DIE --error-rate RATE (errors / all rolls of that die, 0 to 1, within ±0.05, or more while "
              "there are few rolls)")
    explanation = ("A rate is a ratio of two counters: failed rolls over all rolls of the die. The labels make "
                   "it one query per die, and the die with the outlying ratio is the one to look at: no trace "
                   "needed, the metrics find it, then an exemplar or a TraceQL query shows one failure.")
    options = (Option("--die", str, "DIE", "the die that fails"),
               Option("--error-rate", float, "RATE", "its share of failed rolls, 0 to 1"))
    NAMES = ("amber", "basalt", "cobalt", "garnet", "jade", "onyx", "quartz", "topaz")
    LEAST_ROLLS = 40
    TOLERANCE = 0.05

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
        pid = sandbox.start_traffic(traffic_log, "--users", "4", "--think-min", "0.05", "--think-max", "0.2",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", ",".join(inserted))
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
            return Verdict(WRONG, f"{answer.die} fails no more than a die should. Compare the three dice's share "
                                  "of failed rolls.")
        rolled = sum(counts.values())
        # The counters have grown since the learner read them: two standard errors of the rate at
        # this many rolls, and never less than TOLERANCE.
        tolerance = max(self.TOLERANCE, 2 * math.sqrt(measured * (1 - measured) / rolled))
        if abs(answer.error_rate - measured) > tolerance:
            return Verdict(WRONG, f"Right die; the rate is off by more than {tolerance:.2f}. Divide its failed rolls "
                                  "by all its rolls (result=\"error\" over both results).")
        return Verdict(RIGHT, f"Right: {answer.die} failed {counts.get('error', 0):.0f} of "
                              f"{sum(counts.values()):.0f} rolls, {measured:.2f} (it was set to fail "
                              f"{situation['rate']:.2f} of the time).")

    @staticmethod
    def _rolls(sandbox, die):
        series = sandbox.counter_values(DICE_ROLLER.name, "dice_rolls_total", die_type=die)
        return {dict(labels).get("result"): value for labels, value in series.items()}


class SlowestInBatch(Lab):
    name = "slowest-in-batch"
    title = "The roll that held a batch up"
    goal = ("Batches of dice are rolled at once: a batch lasts as long as its slowest roll. Pick a batch's trace "
            "and find which roll held it up.")
    todo = "Traffic rolls batches in the background. Open a batch's trace and read its `roll die` spans."
    where = ("Grafana → Explore → Tempo, TraceQL: {resource.service.name=\"dice-roller\" && "
             "span.http.route=\"/roll-async\"}; the `roll die` spans carry die.roll_index. Without Docker: "
             "http://127.0.0.1:3200/api/search?tags=http.route=/roll-async.")
    answer = "--trace-id TRACE_ID --roll-index INDEX (a batch, and the die.roll_index of its slowest roll)"
    explanation = ("Concurrent children overlap: the parent ends with the last of them, so the slowest child is "
                   "the batch's latency, and making any other roll faster would change nothing. Fan-out "
                   "latency is a maximum, not a sum.")
    options = (Option("--trace-id", str, "TRACE_ID", "a batch's trace"),
               Option("--roll-index", int, "INDEX", "die.roll_index of the roll that made it slow"))

    def start(self, sandbox, rng, traffic_log):
        biggest = rng.randrange(4, 11)
        pid = sandbox.start_traffic(traffic_log, "--users", "2", "--think-min", "0.2", "--think-max", "0.6",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair", "--batch-share", "1",
                                    "--max-batch", str(biggest))
        return {"max_batch": biggest, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = trace_or_verdict(sandbox, answer.trace_id)
        if refusal:
            return refusal
        rolls = [s for s in spans if s.name == "roll die" and "die.roll_index" in s.attributes]
        if len(rolls) < 2:
            return Verdict(WRONG, "That trace is not a batch: look for traces of /roll-async, with several "
                                  "`roll die` spans.")
        slowest = max(rolls, key=lambda span: span.ms)
        if answer.roll_index != slowest.attributes["die.roll_index"]:
            return Verdict(WRONG, "That roll is not the one the batch waited for: compare the `roll die` spans' "
                                  "durations, not their order.")
        return Verdict(RIGHT, f"Right: roll {answer.roll_index} took {slowest.ms:.0f} ms, the longest of "
                              f"{len(rolls)}; the batch took as long.")


class DependencyDown(Lab):
    name = "dependency-down"
    title = "A dependency that stops answering"
    goal = ("The die service has frozen: it accepts connections and never answers. What do the users get, and "
            "how long does the dice roller wait before it gives up?")
    todo = "Roll in the page, or watch the background traffic's traces."
    where = ("The page shows the status; Grafana → Explore → Tempo: the dice roller's CLIENT span to the die "
             "service; the dashboard's \"Dice roller → die service p95\". Without Docker: "
             "http://127.0.0.1:3200/api/search?minDuration=1s (make run's Tempo API).")
    answer = "--status CODE --waited-ms MS (what the frontend answered; the roller's wait, within 25 %)"
    explanation = ("A frozen dependency is worse than a dead one: a refused connection fails at once, a frozen "
                   "one costs every caller its whole timeout. The CLIENT span's length is that timeout "
                   "(DIE_SERVICE_TIMEOUT_SECONDS), and the answer is 503: unavailable, not a bug of the roller.")
    options = (Option("--status", int, "CODE", "the HTTP status the frontend answered"),
               Option("--waited-ms", float, "MS", "how long the roller waited for the die service"))

    def start(self, sandbox, rng, traffic_log):
        die = rng.choice(["fair", "coin", "d20"])
        sandbox.freeze(DIE_SERVICE.name)
        pid = sandbox.start_traffic(traffic_log, "--users", "2", "--think-min", "0.5", "--think-max", "1",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", die)
        return {"die": die, "frozen": [DIE_SERVICE.name], "traffic_pid": pid, "started": time.time()}

    def check(self, sandbox, situation, answer):
        failed = self._failed_rolls(sandbox, situation["started"])
        if not failed:
            return Verdict(CANNOT_CHECK, "No roll has failed yet: wait a few seconds (or roll in the page) and "
                                         "check again.")
        statuses = {status for status, _ in failed}
        waits = sorted(wait for _, wait in failed)
        waited = waits[len(waits) // 2]
        if answer.status not in statuses:
            return Verdict(WRONG, "That is not the status the frontend answered: read it in the page, or on the "
                                  "frontend's SERVER span.")
        if abs(answer.waited_ms - waited) > 0.25 * waited:
            return Verdict(WRONG, "The status is right; the wait is not. Read the length of the dice roller's "
                                  "CLIENT span, the call to the die service.")
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


class LogsForATrace(Lab):
    name = "logs-for-a-trace"
    title = "From a trace to its log line"
    goal = ("A batch of dice failed. Its trace id is given: find the dice roller's log line of that trace that "
            "says how many of its dice failed.")
    todo = "Search the logs by the trace id (start printed it; `show` prints it again)."
    where = ("Grafana → Explore → Loki: {container_name=\"dice-roller-stage3\"} |= \"TRACE_ID\" | json; or, from "
             "the trace in Tempo, \"Logs for this span\". Without Docker: grep TRACE_ID var/logs/dice-roller.log.")
    answer = "--failed N (the `failed` field of the roller's `Async roll batch failed` line)"
    explanation = ("Every log line carries the trace id of the request it was written for, so a trace leads to "
                   "its lines and a line back to its trace. The span says that something failed; the log line "
                   "says what, in the words of the code that saw it.")
    options = (Option("--failed", int, "N", "how many dice of the batch failed"),)

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
        if answer.failed != logged:
            return Verdict(WRONG, "That is not the number the roller logged for this trace: find its line with "
                                  "the trace id, not another batch's.")
        return Verdict(RIGHT, f"Right: `Async roll batch failed`, failed={logged}, trace_id "
                              f"{situation['trace_id']}.")


class SlowQuery(Lab):
    name = "slow-query"
    title = "The query that held the time"
    goal = ("Some rolls wait on the database. Find one such roll's trace, and the span where the time went.")
    todo = "Traffic is rolling in the background. Find a roll of 300 ms or more, and its slowest span of its own."
    where = ("Grafana → Explore → Tempo, TraceQL: {kind=client && span.db.system.name != nil && duration > "
             "200ms}; the dashboard's \"Database\" row. Without Docker: "
             "http://127.0.0.1:3200/api/search?minDuration=300ms.")
    answer = "--trace-id TRACE_ID --span-name NAME (a slow roll, and the name of the span that held its time)"
    explanation = ("The die service's SERVER span is as long as its query, but the time is the query's: the "
                   "database span (its db.query.text says which statement) is where to look next, in the "
                   "database's own statistics or its slow-query log.")
    options = (Option("--trace-id", str, "TRACE_ID", "a slow roll"),
               Option("--span-name", str, "NAME", "the span that held the time"))

    def start(self, sandbox, rng, traffic_log):
        delay = rng.randrange(300, 900, 50)
        pid = sandbox.start_traffic(traffic_log, "--users", "3", "--think-min", "0.2", "--think-max", "0.6",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair",
                                    "--fault", f"{DATABASE}=delay:{delay}", "--fault-rate", "0.3")
        return {"delay_ms": delay, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = trace_or_verdict(sandbox, answer.trace_id)
        if refusal:
            return refusal
        queries = [s for s in spans if s.kind == "CLIENT" and s.attributes.get("db.system.name")]
        slow = [s for s in queries if s.ms >= situation["delay_ms"] * 0.8]
        if not slow:
            return Verdict(WRONG, "That trace is not one whose query waited: look for the slower rolls.")
        if answer.span_name != slow[0].name:
            return Verdict(WRONG, _span_name_hint(spans, answer.span_name, slow[0]))
        return Verdict(RIGHT, f"Right: {slow[0].name} took {slow[0].ms:.0f} ms "
                              f"({slow[0].attributes.get('db.query.text')}).")


# A span computed when its CPU samples add up to this share of its own time at least. A waiting
# span has a few samples of its request's work (a tenth of its time or less); a computing one,
# sampled on a busy machine, half or more: the line sits between, with room on both sides.
COMPUTED_SHARE = 0.25


def spent_computing(profile, own_milliseconds):
    """Whether a span computed, from its own profile (Pyroscope's flame graph) and its own time."""
    return int(profile.get("total", 0)) / 1e6 >= own_milliseconds * COMPUTED_SHARE


class CpuOrWait(Lab):
    name = "cpu-or-wait"
    title = "Computing or waiting?"
    goal = ("Some rolls are slow at one hop. A trace shows how long that hop took, not what it did: find one "
            "such roll, its hop, whether that hop computed or waited, and, if it computed, in which function.")
    todo = ("Traffic is rolling in the background. Find a slow trace and the span whose own time is long, then "
            "open that span's profile.")
    where = ("Grafana → Explore → Tempo: a trace over 400 ms, then the span's \"Profiles for this span\" (its CPU "
             "flame graph in Pyroscope). Without Docker: make run prints each SERVER span's CPU and top functions "
             "under its trace (the `· cpu` line); its Pyroscope API is on http://127.0.0.1:4040.")
    answer = ("--trace-id TRACE_ID --service SERVICE --cause cpu|wait [--function NAME] (the function where the span "
              "spent its CPU, when it computed)")
    explanation = ("A span's length is the wall clock. A profile samples only the threads on a CPU: a span that "
                   "computed has samples, topped by the function that burnt them; a span that waited (for a "
                   "lock, a socket, a sleep) has none. Slow and computing calls for the code; slow and waiting, "
                   "for whatever it waited on.")
    options = (Option("--trace-id", str, "TRACE_ID", "a slow trace"),
               Option("--service", str, "SERVICE", "frontend, dice-roller or die-service"),
               Option("--cause", str, "CAUSE", "cpu or wait", choices=("cpu", "wait")),
               Option("--function", str, "NAME", "where it spent its CPU (with --cause cpu)", required=False))

    def start(self, sandbox, rng, traffic_log):
        service = rng.choice([FRONTEND.name, DICE_ROLLER.name, DIE_SERVICE.name])
        cause, milliseconds = rng.choice(["cpu", "wait"]), rng.randrange(400, 800, 50)
        fault = f"{service}={'cpu' if cause == 'cpu' else 'delay'}:{milliseconds}"
        pid = sandbox.start_traffic(traffic_log, "--users", "3", "--think-min", "0.2", "--think-max", "0.8",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair",
                                    "--fault", fault, "--fault-rate", "0.3")
        return {"service": service, "cause": cause, "ms": milliseconds, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = trace_or_verdict(sandbox, answer.trace_id)
        if refusal:
            return refusal
        slow = [s for s in spans if s.kind == "SERVER" and own_ms(s, spans) >= situation["ms"] * 0.8]
        if not slow:
            return Verdict(WRONG, "That trace is not one of the slow ones: no span in it spends much time of its "
                                  "own. Look for traces over 400 ms.")
        [hop] = slow[:1]
        if answer.service != hop.service:
            return Verdict(WRONG, f"That trace is slow, but the {answer.service}'s span does not hold the time: "
                                  "find the span whose own time its children do not cover.")
        profile = sandbox.span_profile(hop.service, hop.span_id)
        cpu_ms = int(profile.get("total", 0)) / 1e6
        computed = spent_computing(profile, own_ms(hop, spans))
        if not computed and situation["cause"] == "cpu" and sandbox.profile_on_its_way(hop):
            return Verdict(CANNOT_CHECK, "That span's profile has not arrived yet (the agents send theirs every few "
                                         "seconds): check again in ten seconds.")
        cause = "cpu" if computed else "wait"
        if answer.cause != cause:
            return Verdict(WRONG, "A span's length does not say what it did: open its profile. A span that "
                                  "computed has CPU samples adding up to a good part of its own time; one that "
                                  "waited, a few samples of its request's own work.")
        hottest = hottest_function(profile)
        if computed and answer.function != hottest:
            return Verdict(WRONG, "It computed, but not mostly in that function: in the span's flame graph, the "
                                  "function with the most self time (the widest bar with nothing above it).")
        spent = f"{cpu_ms:.0f} ms on a CPU, most in {hottest}" if computed else f"{cpu_ms:.0f} ms on a CPU: it waited"
        return Verdict(RIGHT, f"Right: in trace {answer.trace_id} the {hop.service}'s span {hop.name} spent "
                              f"{own_ms(hop, spans):.0f} ms of its own, {spent}.")


def _span_name_hint(spans, name, slow):
    """Why `name` is not the span that held the time, true of this trace."""
    named = [span for span in spans if span.name == name]
    if not named:
        return "No span of that trace has that name: copy it from the trace, as Tempo shows it."
    if any(span.start_ns <= slow.start_ns and slow.end_ns <= span.end_ns for span in named):
        return ("That span is long only because a span below it is: follow the time down to the span that "
                "has no child to pass it on to.")
    return "That span did not hold this roll's time: look for the long span with no child below it."


class BudgetBurn(Lab):
    name = "budget-burn"
    title = "Which objective burns its error budget, how fast, and why?"
    goal = ("One hop fails, or is slow, for a share of the rolls. Find which of the roll journey's objectives burns "
            "its error budget, how fast over the last hour, and the hop responsible.")
    todo = ("Traffic is rolling in the background. Give Prometheus a minute, then read the burn rates, and follow "
            "the failures or the time down the chain.")
    where = ("Grafana → the dashboard's \"Service-level objectives\" row, then \"5xx rate by service\" or \"Latency "
             "p50 / p95 / p99 by service\"; Explore → Prometheus: slo:sli_error:ratio_rate1h / on(slo) "
             "slo:error_budget:ratio. Without Docker: make run's Prometheus (its banner's `prometheus` line, "
             "http://127.0.0.1:9090/graph when the port was free). docs/slo.md explains the numbers.")
    answer = ("--objective roll-availability|roll-latency --burn-rate RATE --culprit SERVICE (the burn rate over the "
              "last hour, to one decimal, as Prometheus has had it in the last two minutes, ±5 %)")
    explanation = ("An objective turns \"is something broken?\" into \"how much of this month's allowance of failure "
                   "is going, and how fast?\". The burn rate is the error ratio divided by the budget: 1 spends it in "
                   "30 days, 14.4 over an hour spends 2 % of it, which is worth waking someone for. A die's own "
                   "simulated failures (risky's die_failed) are left out: they are the die doing what it was asked. "
                   "The hop to blame is then the usual reading: the deepest service whose own answers fail, or "
                   "whose own requests are slow.")
    options = (Option("--objective", str, "OBJECTIVE", "roll-availability or roll-latency",
                      choices=("roll-availability", "roll-latency")),
               Option("--burn-rate", float, "RATE", "its burn rate over the last hour, to one decimal"),
               Option("--culprit", str, "SERVICE",
                      "the hop that fails or is slow: frontend, dice-roller or die-service"))
    SHARES = (0.1, 0.15, 0.2, 0.25, 0.3)
    # The chain from the user down: the deepest hop whose own answers fail (or are slow) is where it starts.
    CHAIN = (FRONTEND.name, DICE_ROLLER.name, DIE_SERVICE.name)
    BURN_RATE = "slo:sli_error:ratio_rate1h{{slo=\"{slo}\"}} / on(slo) slo:error_budget:ratio"
    TOLERANCE = 0.05

    # A Prometheus that has just started evaluates its rules within one interval (15 s).
    RULES_WAIT_SECONDS = 20

    def start(self, sandbox, rng, traffic_log):
        deadline = time.monotonic() + self.RULES_WAIT_SECONDS
        while not self._rules_evaluated(sandbox):
            if time.monotonic() > deadline:
                raise SetUpFailed(f"the Prometheus at {sandbox.prometheus} has not loaded the SLO rules "
                                  "(stack/prometheus/rules/slo.yml)")
            time.sleep(0.5)
        objective = rng.choice(["roll-availability", "roll-latency"])
        if objective == "roll-availability":
            hop, fault = rng.choice(self.CHAIN), f"error:{rng.choice([500, 502, 503, 504])}"
        else:
            # Slower than 1.5 s, and under the caller's timeout: the die service's delay would race the
            # roller's 2 s, so the slow hop is one of the other two.
            hop, fault = rng.choice(self.CHAIN[:2]), f"delay:{rng.randrange(1700, 2600, 100)}"
        share = rng.choice(self.SHARES)
        pid = sandbox.start_traffic(traffic_log, "--users", "4", "--think-min", "0.05", "--think-max", "0.3",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair,coin",
                                    "--fault", f"{hop}={fault}", "--fault-rate", str(share))
        return {"objective": objective, "hop": hop, "fault": fault, "share": share, "traffic_pid": pid}

    @staticmethod
    def _rules_evaluated(sandbox):
        try:
            objectives = {labels.get("slo") for labels, _ in sandbox.promql("slo:objective:ratio")}
        except Unreachable as problem:
            raise SetUpFailed(str(problem)) from None
        return objectives == {"roll-availability", "roll-latency"}

    def briefing(self, situation):
        return "Prometheus scrapes and evaluates every 15 s: the burn rates show after a minute or so."

    def check(self, sandbox, situation, answer):
        burning = {labels["slo"]: value for labels, value in sandbox.promql(
            "slo:sli_error:ratio_rate1h / on(slo) slo:error_budget:ratio") if not math.isnan(value)}
        if burning.get(situation["objective"], 0) <= 1:
            return Verdict(CANNOT_CHECK, "Prometheus has not seen enough of the lab's rolls yet (it scrapes every 15 s "
                                         "and needs two scrapes for a rate): check again in a minute.")
        if answer.objective != situation["objective"]:
            return Verdict(WRONG, "That objective is not the one the lab's traffic burns. Compare both objectives' "
                                  "burn rates over the last 5 minutes, which show what the rolls do now: "
                                  "slo:sli_error:ratio_rate5m / on(slo) slo:error_budget:ratio.")
        low, high = self._burn_rate_range(sandbox, answer.objective, burning[answer.objective])
        if not low * (1 - self.TOLERANCE) - 0.05 <= answer.burn_rate <= high * (1 + self.TOLERANCE) + 0.05:
            budget = 0.005 if answer.objective == "roll-availability" else 0.01
            return Verdict(WRONG, f"Right objective; the burn rate is off by more than {self.TOLERANCE:.0%}. It is "
                                  f"the error ratio over the last hour divided by the error budget ({budget}, 1 - the "
                                  f"target): {self.BURN_RATE.format(slo=answer.objective)}.")
        kind = situation["fault"].split(":")[0]
        faulted = {labels.get("job") for labels, value in sandbox.promql(
            f'sum by (job) (increase(faults_injected_total{{kind="{kind}"}}[1h])) > 0')}
        culprit_job = next((s.container for s in (FRONTEND, DICE_ROLLER, DIE_SERVICE) if s.name == answer.culprit),
                           None)
        if answer.culprit != situation["hop"] or culprit_job not in faulted:
            return Verdict(WRONG, self._culprit_hint(answer.culprit, situation["objective"]))
        return Verdict(RIGHT, f"Right: {answer.objective} burns its budget {burning[answer.objective]:.1f}x as fast as "
                              f"30 days allow (at this rate it lasts {30 / burning[answer.objective]:.1f} days), from "
                              f"the {answer.culprit}'s injected {situation['fault']} on {situation['share']:.0%} of "
                              "the rolls.")

    def _burn_rate_range(self, sandbox, objective, now):
        """The lowest and highest the hour's burn rate was over the last two minutes, as Prometheus computed
        it: the subquery's steps, and `now`, the newest value (evaluated after the last step)."""
        expression = self.BURN_RATE.format(slo=objective)
        found = [now]
        for function in ("min", "max"):
            found += [value for _, value in sandbox.promql(f"{function}_over_time(({expression})[2m:15s])")]
        return min(found), max(found)

    def _culprit_hint(self, named, objective):
        if named not in self.CHAIN:
            return (f"{named} is not a hop of the chain ({', '.join(self.CHAIN)}). If it is a die: its failures are "
                    "its own, simulated ones (die_failed), which roll-availability leaves out.")
        if objective == "roll-availability":
            return ("Not that hop. A failure travels up the chain to the user (a 5xx deep down becomes a 502 above "
                    "it): the deepest service whose own answers are 5xx is where it starts. "
                    "sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m])), and faults_injected_total says "
                    "whether on purpose.")
        return ("Not that hop. A caller is as slow as its callee and more: the deepest service whose own requests "
                "are slow holds the time. Compare the services' p95 (the dashboard's \"Latency p50 / p95 / p99 by "
                "service\"), or a slow roll's trace: the span whose children do not cover its time.")


LABS = {lab.name: lab for lab in (SlowHop(), FailingDie(), SlowestInBatch(), DependencyDown(), LogsForATrace(),
                                  SlowQuery(), CpuOrWait(), BudgetBurn())}
