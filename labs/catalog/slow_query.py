"""The slow-query lab: the query that held the time"""

from labs.lab import RIGHT, TRAFFIC_SECONDS, WRONG, Lab, Option, Verdict, span_name_hint
from ops.faults import DATABASE


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
            return Verdict(WRONG, span_name_hint(spans, answer.span_name, slow[0]))
        return Verdict(RIGHT, f"Right: {slow[0].name} took {slow[0].ms:.0f} ms "
                              f"({slow[0].attributes.get('db.query.text')}).")
