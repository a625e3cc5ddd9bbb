"""A lab's fault, in process: applied as the tour's is, recorded nowhere (no span event, log line or
counter), ignored with FAULT_INJECTION=off; the tour's entry keeps its records."""

import logging

import pytest
from opentelemetry import baggage, context, trace

from ops.faults import LAB_BAGGAGE_PREFIX, Fault, FaultInjector, with_faults
from ops.metrics import FAULTS_INJECTED

tracer = trace.get_tracer(__name__)


def injected(kind):
    return FAULTS_INJECTED.labels(kind)._value.get()


def apply_with(entries, enabled=True):
    """Applies `entries` (baggage key: value) to a dice roller's request: (what it slept, burnt)."""
    slept, burnt = [], []
    injector = FaultInjector("dice-roller", enabled, sleep=slept.append, burn=burnt.append)
    carrying = context.get_current()
    for key, value in entries.items():
        carrying = baggage.set_baggage(key, value, context=carrying)
    token = context.attach(carrying)
    try:
        with tracer.start_as_current_span("GET /roll", kind=trace.SpanKind.SERVER):
            injector.apply()
    finally:
        context.detach(token)
    return slept, burnt


@pytest.mark.parametrize("value, slept, burnt", [("delay:1500", [1.5], []), ("cpu:400", [], [400])])
def test_a_lab_fault_is_applied_and_recorded_nowhere(span_exporter, caplog, value, slept, burnt):
    kind = value.split(":")[0]
    before = injected(kind)
    with caplog.at_level(logging.DEBUG):
        assert apply_with({f"{LAB_BAGGAGE_PREFIX}dice-roller": value}) == (slept, burnt)
    [span] = span_exporter.get_finished_spans()
    assert span.events == ()
    assert caplog.records == []
    assert injected(kind) == before


def test_the_tours_fault_keeps_its_event_line_and_count(span_exporter, caplog):
    before = injected("delay")
    with caplog.at_level(logging.WARNING):
        assert apply_with({"fault.dice-roller": "delay:300"}) == ([0.3], [])
    [span] = span_exporter.get_finished_spans()
    assert [(event.name, dict(event.attributes)) for event in span.events] == [
        ("fault injected", {"fault.kind": "delay", "fault.value": 300})]
    assert [record.getMessage() for record in caplog.records] == ["Fault injected"]
    assert injected("delay") == before + 1


def test_fault_injection_off_ignores_a_labs_fault_too(span_exporter):
    assert apply_with({f"{LAB_BAGGAGE_PREFIX}dice-roller": "delay:1500"}, enabled=False) == ([], [])


def test_a_lab_fault_naming_another_service_is_left_alone(span_exporter):
    assert apply_with({f"{LAB_BAGGAGE_PREFIX}die-service": "delay:1500"}) == ([], [])


def test_with_faults_writes_the_labs_entries_under_their_own_prefix():
    carrying = with_faults([("die-service", Fault("cpu", 500))], prefix=LAB_BAGGAGE_PREFIX)
    assert baggage.get_all(carrying) == {"lab-fault.die-service": "cpu:500"}
