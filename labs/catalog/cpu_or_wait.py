"""The cpu-or-wait lab: computing or waiting?"""

from backend_apis.pyroscope import hottest_function
from labs.lab import (
    CANNOT_CHECK,
    RIGHT,
    SERVICE_NAMES,
    SLOW_ROLL_MS,
    SLOW_ROLLS,
    TRAFFIC_SECONDS,
    WRONG,
    Lab,
    Option,
    Verdict,
    not_that_hop,
)
from labs.traces import slowest_hop

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
    # A plain roll's roller and frontend spans pass 400 ms too (its own wait is up to a second): the
    # rolls over SLOW_ROLL_MS are the ones that hold the lab's 0.4-0.8 s at one hop, whatever their wait.
    search = SLOW_ROLLS

    def where(self, sandbox, situation):
        link = self.search_link(sandbox, situation.get("started"))
        if sandbox.is_compose:
            return (f"Grafana → Explore → Tempo finds the lab's slowest traces, over {SLOW_ROLL_MS / 1000:g} s:\n"
                    f"{link}\n"
                    "then the slow span's \"Profiles for this span\" (its CPU flame graph from Pyroscope).")
        search = f"make run's trace search finds the lab's slowest traces, over {SLOW_ROLL_MS / 1000:g} s:\n{link}\n"
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
                                  f"lab's slow rolls spend 400 ms or more at one hop; those over "
                                  f"{SLOW_ROLL_MS / 1000:g} s all do: "
                                  f"{self.search_link(sandbox, situation.get('started'))}")
        if answer.service != hop.service:
            return Verdict(WRONG, not_that_hop(answer.service, spans))
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
