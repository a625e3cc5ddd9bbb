"""The labs: each sets up a situation chosen at random, asks a question, and checks the answer
against the telemetry (the trace, the metrics, the log line), never against what it chose alone.

A lab's `start` returns its situation (what it chose, and what `stop` must undo: a traffic
generator's pid, a frozen service, dice it added); `check` returns a Verdict. What a lab prints
(where to look, its hints) names only what the sandbox it runs against has, at the addresses it
has them (labs/sandbox.py): make run's pages and files, or compose's Grafana."""

import argparse
import math
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from backend_apis.pyroscope import hottest_function
from backend_apis.spans import INVALID_TRACE_ID, TRACE_ID
from backend_apis.tempo import spans_of
from labs.sandbox import SqlFailed, Unreachable
from labs.traces import own_ms
from ops.faults import DATABASE
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND, SERVICES
from roller.dice import ROLL_SPAN
from traffic.runner import LAB_ATTRIBUTE

# check's exit codes: right, wrong, and "cannot check yet" (not started, no sandbox, a trace still
# on its way); a command line the labs cannot read has its own, sysexits' EX_USAGE, so that it is
# never taken for "not yet" (argparse's own 2).
RIGHT, WRONG, CANNOT_CHECK, USAGE = 0, 1, 2, 64
# How the README runs the labs: every message names the same command.
COMMAND = ".venv/bin/python -m labs"
# Background traffic ends by itself after this long, should `stop` never come.
TRAFFIC_SECONDS = 900
SERVICE_NAMES = tuple(service.name for service in SERVICES)


@dataclass(frozen=True)
class Verdict:
    code: int  # RIGHT, WRONG or CANNOT_CHECK: the exit code of `check`
    text: str


@dataclass(frozen=True)
class Option:
    flag: str  # --service
    kind: object  # what reads the value (argparse's type)
    metavar: str
    help: str
    required: bool = True
    choices: tuple = ()


class SetUpFailed(Exception):
    """A lab's situation could not be set up: the message says why; nothing of it is left behind."""


def share(text):
    """A share from 0 to 1, written 0.35 or 35%: what an error rate is read as, on a page or a dashboard."""
    number = text.strip()
    try:
        value = float(number[:-1]) / 100 if number.endswith("%") else float(number)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # nan too
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share from 0 to 1, such as 0.35 or 35%")
    return value


def trace_id_problem(text):
    """Why `text` is no trace id, or None: refused at once, before any backend is asked."""
    if not TRACE_ID.fullmatch(text.strip().lower()):
        return ("That is not a trace id: one is 32 hexadecimal digits (0-9, a-f), as the page, the terminal and "
                "the trace pages show it.")
    if text.strip() == INVALID_TRACE_ID:
        return "That is not a trace id: 32 zeros is the id OpenTelemetry gives no trace."
    return None


# A trace id the learner names that has not arrived is "not yet" this long after the lab began
# (its first traces are on their way: make run has a trace a second or two after its roll,
# compose's Tempo within ten); after that, no trace has that id.
FIRST_TRACES_SECONDS = 30
# A trace whose spans name a parent that has not arrived is still arriving, for this long after
# its last span ended (its caller, such as the traffic generator, exports after the services);
# after that it is checked as it is.
ARRIVING_SECONDS = 15


class Lab:
    name = title = goal = todo = answer = explanation = ""
    options = ()
    # The TraceQL that finds the lab's telling traces; its links add the lab's own tag and start.
    search = ""

    def start(self, sandbox, rng, traffic_log):
        raise NotImplementedError

    def check(self, sandbox, situation, answer):
        raise NotImplementedError

    def where(self, sandbox, situation):
        """Where to look, in `sandbox` (make run's pages and files, or compose's Grafana), for the
        lab started as `situation` ({} when it is not): its search links find its own traces."""
        raise NotImplementedError

    def briefing(self, situation):
        """What `start` prints besides the goal: for labs whose question names a trace."""
        return ""

    def usage(self):
        return f"{COMMAND} check {self.name} " + " ".join(
            f"{o.flag} {o.metavar}" if o.required else f"[{o.flag} {o.metavar}]" for o in self.options)

    def search_query(self):
        """The TraceQL of this lab's own traces (its traffic's tag) that `search` finds."""
        return f'{{span.{LAB_ATTRIBUTE}="{self.name}"}} && {self.search}'

    def search_link(self, sandbox, since=None):
        """A page of this lab's own traces that `search` finds, since `since`."""
        return sandbox.search_link(self.search_query(), since)

    def refusal(self, answer):
        """The Verdict that refuses `answer` at once, before the sandbox is asked, or None."""
        problem = trace_id_problem(answer.trace_id) if getattr(answer, "trace_id", None) is not None else None
        return Verdict(WRONG, problem) if problem else None

    def trace_or_verdict(self, sandbox, trace_id, situation):
        """(spans, None) of the trace, or ([], the Verdict to give) when there is none to look at:
        "not yet" for a trace on its way (in the lab's first FIRST_TRACES_SECONDS, or with a span's
        parent missing for ARRIVING_SECONDS), "no such trace" after."""
        spans = spans_of(sandbox.get_trace(trace_id.strip().lower()))
        if not spans:
            began = time.time() - situation.get("started", 0)
            if began < FIRST_TRACES_SECONDS:
                return [], Verdict(CANNOT_CHECK, f"{sandbox.traces_name} has no trace with that id yet: the lab "
                                                 f"began {began:.0f} s ago, and a trace arrives a few seconds after "
                                                 "its roll. Check again in a few seconds.")
            return [], Verdict(WRONG, f"{sandbox.traces_name} has no trace with that id (traces arrive a few seconds "
                                      "after their roll). Copy the id of one of this lab's traces: "
                                      f"{self.search_link(sandbox, situation.get('started'))}")
        ids = {span.span_id for span in spans}
        orphans = [span for span in spans if span.parent_span_id and span.parent_span_id not in ids]
        if orphans and time.time() - max(span.end_ns for span in spans) / 1e9 < ARRIVING_SECONDS:
            return [], Verdict(CANNOT_CHECK, "That trace has not fully arrived yet (a span's parent is missing): "
                                             "check again in a few seconds.")
        return spans, None


def trace_ms(spans):
    return (max(span.end_ns for span in spans) - min(span.start_ns for span in spans)) / 1e6


def server_own_ms(service, spans):
    """The time `service`'s SERVER span (the hop) spent itself, outside its children (its `roll
    die` span, the roll's own wait, is a child)."""
    return sum(own_ms(span, spans) for span in spans if span.service == service and span.kind == "SERVER")


def slowest_hop(spans):
    """(the SERVER span with the most time of its own, that time in ms), or (None, 0)."""
    servers = [span for span in spans if span.kind == "SERVER"]
    if not servers:
        return None, 0
    hop = max(servers, key=lambda span: own_ms(span, spans))
    return hop, own_ms(hop, spans)


class SlowHop(Lab):
    name = "slow-hop"
    title = "Find the hop that makes some rolls slow"
    goal = ("Some rolls are much slower than the rest: one hop of the chain takes its time with them. "
            "Find one such roll's trace, and the service where its time goes.")
    todo = "Traffic is rolling in the background. Find a slow trace, then the span whose own time is long."
    answer = "--service SERVICE --trace-id TRACE_ID (a slow trace, and the service whose span holds its time)"
    explanation = ("A span's length is not its own time: the frontend's span is long whenever anything below it "
                   "is. The hop to blame is the span whose time is not covered by its children: in a real system "
                   "that is where you start reading, its code, its logs, its profile.")
    options = (Option("--service", str, "SERVICE", "frontend, dice-roller or die-service", choices=SERVICE_NAMES),
               Option("--trace-id", str, "TRACE_ID", "a slow trace"))
    # Over the longest a plain roll takes (its own wait, up to ROLL_MAX_DELAY_SECONDS = 1 s, and the
    # hops' milliseconds) and under the shortest a delayed one does (the lab's delay, 1.2 s at least).
    SLOW_MS = 1200
    search = '{resource.service.name="frontend" && kind=server && duration > 1200ms}'

    def where(self, sandbox, situation):
        link = self.search_link(sandbox, situation.get("started"))
        if sandbox.is_compose:
            return ("Grafana → Explore → Tempo finds the lab's traces over 1.2 s:\n"
                    f"{link}\n"
                    f"(TraceQL: {self.search}). Open one and compare each span with its children.")
        return ("make run's trace search finds the lab's traces over 1.2 s:\n"
                f"{link}\n"
                "Open one (its page, or its tree in make run's terminal) and compare each span's length with its "
                "children's.")

    def start(self, sandbox, rng, traffic_log):
        service = rng.choice(SERVICE_NAMES)
        delay = rng.randrange(1200, 1800, 50)
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "3", "--think-min", "0.2", "--think-max", "0.8",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair", "--fault-rate", "0.3",
                                    faults=[f"{service}=delay:{delay}"])
        return {"service": service, "delay_ms": delay, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = self.trace_or_verdict(sandbox, answer.trace_id, situation)
        if refusal:
            return refusal
        hop, held = slowest_hop(spans)
        if held < situation["delay_ms"] * 0.8:
            took = trace_ms(spans)
            link = self.search_link(sandbox, situation.get("started"))
            if took < self.SLOW_MS:
                return Verdict(WRONG, f"That trace took {took:.0f} ms: not one of the slow ones. This lab's slow "
                                      f"rolls take over {self.SLOW_MS / 1000:g} s: {link}")
            # The services' spans alone: a caller's (the traffic generator's) covers its wait for them too.
            holder = max((span for span in spans if span.service in SERVICE_NAMES),
                         key=lambda span: own_ms(span, spans))
            if holder.name == ROLL_SPAN and own_ms(holder, spans) >= took / 2:
                return Verdict(WRONG, f"That trace took {took / 1000:.1f} s, most of it in the dice roller's "
                                      f"`{ROLL_SPAN}` span ({own_ms(holder, spans):.0f} ms): the roll's own wait, "
                                      "up to a second by design (ROLL_MAX_DELAY_SECONDS), not a hop's. No hop's "
                                      f"SERVER span holds much of its own here. Pick another of the lab's slow "
                                      f"traces: {link}")
            return Verdict(WRONG, f"That trace took {took / 1000:.1f} s, but no hop of it holds the time: its "
                                  f"slowest span of its own, the {hop.service}'s, spent {held:.0f} ms outside its "
                                  "children; the rest went between spans (a request waiting its turn). Pick another "
                                  f"of the lab's slow traces: {link}")
        if answer.service != hop.service:
            return Verdict(WRONG, _not_that_hop(answer.service, spans))
        if hop.service != situation["service"]:
            return Verdict(WRONG, f"That trace is slow at the {hop.service}, but not by this lab's doing (a roll of "
                                  "your own?): take one of the lab's own slow traces, "
                                  f"{self.search_link(sandbox, situation.get('started'))}")
        return Verdict(RIGHT, f"Right: in trace {answer.trace_id} the {hop.service}'s span {hop.name} spent "
                              f"{held:.0f} ms of its own, outside its children (the lab delayed that hop by "
                              f"{situation['delay_ms']} ms).")


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


class SlowQuery(Lab):
    name = "slow-query"
    title = "The query that held the time"
    goal = ("Some rolls wait on the database. Find one such roll's trace, and the span where the time went.")
    todo = "Traffic is rolling in the background. Find a roll whose database query is slow, and its span."
    answer = "--trace-id TRACE_ID --span-name NAME (a slow roll, and the name of the span that held its time)"
    explanation = ("The die service's SERVER span is as long as its query, but the time is the query's: the "
                   "database span (its db.query.text says which statement) is where to look next, in the "
                   "database's own statistics or its slow-query log.")
    options = (Option("--trace-id", str, "TRACE_ID", "a slow roll"),
               Option("--span-name", str, "NAME", "the span that held the time"))
    search = "{kind=client && span.db.system.name != nil && duration > 200ms}"

    def where(self, sandbox, situation):
        place = "Grafana → Explore → Tempo" if sandbox.is_compose else "make run's trace search"
        text = (f"{place} finds the lab's rolls with a query over 200 ms:\n"
                f"{self.search_link(sandbox, situation.get('started'))}\n"
                f"(TraceQL: {self.search}).")
        if sandbox.is_compose:
            text += f" The dashboard's \"Database\" row shows the queries' latency:\n{sandbox.dashboard}"
        return text

    def start(self, sandbox, rng, traffic_log):
        delay = rng.randrange(300, 900, 50)
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "3", "--think-min", "0.2", "--think-max", "0.6",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair", "--fault-rate", "0.3",
                                    faults=[f"{DATABASE}=delay:{delay}"])
        return {"delay_ms": delay, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = self.trace_or_verdict(sandbox, answer.trace_id, situation)
        if refusal:
            return refusal
        queries = [s for s in spans if s.kind == "CLIENT" and s.attributes.get("db.system.name")]
        slow = [s for s in queries if s.ms >= situation["delay_ms"] * 0.8]
        if not slow:
            link = self.search_link(sandbox, situation.get("started"))
            if not queries:
                return Verdict(WRONG, f"That trace has no database query span: it is no roll's. Look for the lab's "
                                      f"rolls whose query is slow: {link}")
            longest = max(queries, key=lambda span: span.ms)
            return Verdict(WRONG, f"That trace's query took {longest.ms:.0f} ms: it did not wait. Look for the lab's "
                                  f"rolls whose query span is long: {link}")
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
            "read that span's CPU profile.")
    answer = ("--trace-id TRACE_ID --service SERVICE --cause cpu|wait [--function NAME] (the function where the span "
              "spent its CPU, when it computed: optional)")
    explanation = ("A span's length is the wall clock. A profile samples only the threads on a CPU: a span that "
                   "computed has samples, topped by the function that burnt them; a span that waited (for a "
                   "lock, a socket, a sleep) has none. Slow and computing calls for the code; slow and waiting, "
                   "for whatever it waited on.")
    options = (Option("--trace-id", str, "TRACE_ID", "a slow trace"),
               Option("--service", str, "SERVICE", "frontend, dice-roller or die-service", choices=SERVICE_NAMES),
               Option("--cause", str, "CAUSE", "cpu or wait", choices=("cpu", "wait")),
               Option("--function", str, "NAME", "where it spent its CPU (with --cause cpu; optional)",
                      required=False))
    search = "{kind=server && duration > 400ms}"

    def where(self, sandbox, situation):
        link = self.search_link(sandbox, situation.get("started"))
        if sandbox.is_compose:
            return ("Grafana → Explore → Tempo finds the lab's traces with a span over 400 ms:\n"
                    f"{link}\n"
                    "then the slow span's \"Profiles for this span\" (its CPU flame graph from Pyroscope).")
        search = f"make run's trace search finds the lab's traces with a span over 400 ms:\n{link}\n"
        if not sandbox.pyroscope:
            return search + ("then that span's CPU profile, in the Pyroscope your PYROSCOPE_SERVER_ADDRESS names: "
                             "make run receives none of them.")
        return search + ("then that span's CPU: the `· cpu` line make run prints under each SERVER span of a trace "
                         f"(its page shows it too), or its Pyroscope API:\n{sandbox.pyroscope}")

    def start(self, sandbox, rng, traffic_log):
        service = rng.choice(SERVICE_NAMES)
        cause, milliseconds = rng.choice(["cpu", "wait"]), rng.randrange(400, 800, 50)
        fault = f"{service}={'cpu' if cause == 'cpu' else 'delay'}:{milliseconds}"
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "3", "--think-min", "0.2", "--think-max", "0.8",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair", "--fault-rate", "0.3",
                                    faults=[fault])
        return {"service": service, "cause": cause, "ms": milliseconds, "traffic_pid": pid}

    def check(self, sandbox, situation, answer):
        spans, refusal = self.trace_or_verdict(sandbox, answer.trace_id, situation)
        if refusal:
            return refusal
        hop, held = slowest_hop(spans)
        if held < situation["ms"] * 0.8:
            return Verdict(WRONG, f"That trace is not one of the slow ones: no span of it holds much time of its "
                                  f"own (the most, the {hop.service if hop else 'none'}'s, {held:.0f} ms). This "
                                  f"lab's slow rolls spend 400 ms or more at one hop: "
                                  f"{self.search_link(sandbox, situation.get('started'))}")
        if answer.service != hop.service:
            return Verdict(WRONG, _not_that_hop(answer.service, spans))
        profile = sandbox.span_profile(hop.service, hop.span_id)
        cpu_ms = int(profile.get("total", 0)) / 1e6
        computed = spent_computing(profile, held)
        if not computed and situation["cause"] == "cpu" and sandbox.profile_on_its_way(hop):
            return Verdict(CANNOT_CHECK, "That span's profile has not arrived yet (the agents send theirs every few "
                                         "seconds): check again in ten seconds.")
        if answer.cause != ("cpu" if computed else "wait"):
            return Verdict(WRONG, "A span's length does not say what it did: its CPU does. A span that computed has "
                                  "CPU samples adding up to a good part of its own time; one that waited, a few "
                                  "samples of its request's own work. Read it in "
                                  f"{sandbox.profile_place(hop.trace_id)}")
        hottest = hottest_function(profile)
        if computed and answer.function is not None and answer.function != hottest:
            return Verdict(WRONG, f"It computed, right, but not mostly in {answer.function}: another function has "
                                  "more of that span's CPU, the one with the most self time. Read its top functions "
                                  f"in {sandbox.profile_place(hop.trace_id)}")
        spent = f"{cpu_ms:.0f} ms on a CPU, most in {hottest}" if computed else f"{cpu_ms:.0f} ms on a CPU: it waited"
        return Verdict(RIGHT, f"Right: in trace {answer.trace_id} the {hop.service}'s span {hop.name} spent "
                              f"{held:.0f} ms of its own, {spent}.")


def _not_that_hop(service, spans):
    """Why `service` is not the slow hop of a slow trace, true of it."""
    return (f"That trace is slow, but not mostly because of the {service}: its SERVER span holds "
            f"{server_own_ms(service, spans):.0f} ms of its own, another hop's more. Compare each SERVER span's "
            "length with its children's: the time no child covers is the span's own.")


def _span_name_hint(spans, name, slow):
    """Why `name` is not the span that held the time, true of this trace."""
    named = [span for span in spans if span.name == name]
    if not named:
        return "No span of that trace has that name: copy it from the trace, as its page or the terminal shows it."
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
        pid = sandbox.start_traffic(traffic_log, self.name, "--users", "4", "--think-min", "0.05", "--think-max", "0.3",
                                    "--duration", str(TRAFFIC_SECONDS), "--dice", "fair,coin", "--fault-rate",
                                    str(share), faults=[f"{hop}={fault}"])
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
        burning = {labels["slo"]: value for labels, value in sandbox.promql(self.BURN_RATES) if not math.isnan(value)}
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
                "service whose own answers are slow holds the time. Compare the services' p95 (the dashboard's "
                "\"Latency p50 / p95 / p99 by service\"), or a slow roll's trace: the span whose children do not "
                "cover its time.")


LABS = {lab.name: lab for lab in (SlowHop(), FailingDie(), SlowestInBatch(), DependencyDown(), LogsForATrace(),
                                  SlowQuery(), CpuOrWait(), BudgetBurn())}
