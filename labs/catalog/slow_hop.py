"""The slow-hop lab: find the hop that makes some rolls slow"""

from labs.lab import (
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
from labs.traces import own_ms, slowest_hop, trace_ms
from roller.dice import ROLL_SPAN


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
    # The lab's delay, 1.2 s at least, makes each delayed roll one of the slow ones.
    search = SLOW_ROLLS

    def where(self, sandbox, situation):
        link = self.search_link(sandbox, situation.get("started"))
        if sandbox.is_compose:
            return (f"Grafana → Explore → Tempo finds the lab's traces over {SLOW_ROLL_MS / 1000:g} s:\n"
                    f"{link}\n"
                    f"(TraceQL: {self.search}). Open one and compare each span with its children.")
        return (f"make run's trace search finds the lab's traces over {SLOW_ROLL_MS / 1000:g} s:\n"
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
            if took < SLOW_ROLL_MS:
                return Verdict(WRONG, f"That trace took {took:.0f} ms: not one of the slow ones. This lab's slow "
                                      f"rolls take over {SLOW_ROLL_MS / 1000:g} s: {link}")
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
            return Verdict(WRONG, not_that_hop(answer.service, spans))
        if hop.service != situation["service"]:
            return Verdict(WRONG, f"That trace is slow at the {hop.service}, but not by this lab's doing (a roll of "
                                  "your own?): take one of the lab's own slow traces, "
                                  f"{self.search_link(sandbox, situation.get('started'))}")
        return Verdict(RIGHT, f"Right: in trace {answer.trace_id} the {hop.service}'s span {hop.name} spent "
                              f"{held:.0f} ms of its own, outside its children (the lab delayed that hop by "
                              f"{situation['delay_ms']} ms).")
