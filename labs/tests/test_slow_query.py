"""The slow-query lab's hints, each true of the trace the learner named."""

from argparse import Namespace

from labs.catalog import RIGHT, WRONG, SlowQuery

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def span(service, span_id, parent, name, kind, start_ms, end_ms, **attributes):
    return {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [{
                "spanId": span_id, "parentSpanId": parent, "name": name, "kind": f"SPAN_KIND_{kind}",
                "startTimeUnixNano": str(int(start_ms * 1e6)), "endTimeUnixNano": str(int(end_ms * 1e6)),
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
            }]}]}


class FakeSandbox:
    tempo = "http://127.0.0.1:3200"
    trace = {"batches": [
        span("frontend", "1" * 16, "", "GET /roll", "SERVER", 0, 700),
        span("die-service", "2" * 16, "1" * 16, "GET /dice", "SERVER", 10, 620),
        span("die-service", "3" * 16, "2" * 16, "SELECT die_specifications", "CLIENT", 12, 615,
             **{"db.system.name": "sqlite", "db.query.text": "SELECT identifier FROM die_specifications"}),
        span("dice-roller", "4" * 16, "1" * 16, "roll die", "INTERNAL", 630, 690),
    ]}

    def get_trace(self, trace_id):
        return self.trace if trace_id == TRACE_ID else None


def check(name):
    return SlowQuery().check(FakeSandbox(), {"delay_ms": 500}, Namespace(trace_id=TRACE_ID, span_name=name))


def test_the_query_span_is_right():
    assert check("SELECT die_specifications").code == RIGHT


def test_each_wrong_name_gets_a_hint_true_of_this_trace():
    above = check("GET /dice")
    assert above.code == WRONG and "long only because a span below it is" in above.text
    beside = check("roll die")
    assert beside.code == WRONG and "did not hold this roll's time" in beside.text
    nowhere = check("SELECT dice")
    assert nowhere.code == WRONG and "No span of that trace has that name" in nowhere.text


def test_slow_hops_hint_says_what_the_named_service_spent_itself():
    """The roller's own `roll die` took 900 ms: its hint must not say it was slow only because of a child."""
    from labs.catalog import SlowHop

    class Trace(FakeSandbox):
        trace = {"batches": [
            span("frontend", "1" * 16, "", "GET /roll", "SERVER", 0, 2500),
            span("dice-roller", "2" * 16, "1" * 16, "GET /roll", "SERVER", 5, 2495),
            span("dice-roller", "5" * 16, "2" * 16, "GET", "CLIENT", 10, 1590),
            span("die-service", "3" * 16, "5" * 16, "GET /dice", "SERVER", 12, 1585),
            span("dice-roller", "4" * 16, "2" * 16, "roll die", "INTERNAL", 1590, 2490),
        ]}
    Trace.trace["batches"][3]["scopeSpans"][0]["spans"][0]["events"] = [
        {"name": "fault injected", "attributes": [{"key": "fault.kind", "value": {"stringValue": "delay"}}]}]
    verdict = SlowHop().check(Trace(), {"service": "die-service", "delay_ms": 1500},
                              Namespace(trace_id=TRACE_ID, service="dice-roller"))
    assert verdict.code == WRONG and "only because" not in verdict.text
    assert "hold 917 ms of their own" in verdict.text  # its SERVER span 10, its call 7, roll die 900
