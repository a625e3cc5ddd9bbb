"""What a lab is, and what the labs share (labs/catalog/ holds one module a lab): each lab sets up a
situation chosen at random, asks a question, and checks the answer against the telemetry (the
trace, the metrics, the log line), never against what it chose alone.

A lab's `start` returns its situation (what it chose, and what `stop` must undo: a traffic
generator's pid, a frozen service, dice it added); `check` returns a Verdict. What a lab prints
(where to look, its hints) names only what the sandbox it runs against has, at the addresses it
has them (labs/sandbox.py): make run's pages and files, or compose's Grafana."""

import argparse
import math
import time
from dataclasses import dataclass

from backend_apis.spans import INVALID_TRACE_ID, TRACE_ID
from backend_apis.tempo import spans_of
from labs.traces import server_own_ms
from ops.services import SERVICES
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


# A plain roll through the frontend takes up to about a second (its own wait, up to
# ROLL_MAX_DELAY_SECONDS = 1 s, and the hops' milliseconds, a little more on a busy machine): the
# labs that slow one hop find their slow rolls over this, and every roll over it holds their fault.
SLOW_ROLL_MS = 1200
SLOW_ROLLS = f'{{resource.service.name="frontend" && kind=server && duration > {SLOW_ROLL_MS}ms}}'


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


def not_that_hop(service, spans):
    """Why `service` is not the slow hop of a slow trace, true of it."""
    return (f"That trace is slow, but not mostly because of the {service}: its SERVER span holds "
            f"{server_own_ms(service, spans):.0f} ms of its own, another hop's more. Compare each SERVER span's "
            "length with its children's: the time no child covers is the span's own.")


def span_name_hint(spans, name, slow):
    """Why `name` is not the span that held the time, true of this trace."""
    named = [span for span in spans if span.name == name]
    if not named:
        return "No span of that trace has that name: copy it from the trace, as its page or the terminal shows it."
    if any(span.start_ns <= slow.start_ns and slow.end_ns <= span.end_ns for span in named):
        return ("That span is long only because a span below it is: follow the time down to the span that "
                "has no child to pass it on to.")
    return "That span did not hold this roll's time: look for the long span with no child below it."
