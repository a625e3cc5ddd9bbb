"""Break one request on purpose: a fault travels in W3C baggage as
`fault.<OTEL_SERVICE_NAME>=<kind>:<value>` and only the service it names applies it, at the
start of its handling (docs/faults.md, "Break one request"). The baggage itself is extracted and passed
on to the next hop by the OpenTelemetry instrumentations, like the trace context.

The labs send theirs as `lab-fault.<OTEL_SERVICE_NAME>=<kind>:<value>`: applied the same way, but
recorded nowhere (docs/labs.md, "Lab faults")."""

import logging
import time
from dataclasses import dataclass

from opentelemetry import baggage, context, trace

from ops import errors
from ops.metrics import FAULTS_INJECTED

logger = logging.getLogger(__name__)

BAGGAGE_PREFIX = "fault."
# A lab's faults: no span event, log line or counter says where they are or what they do, so the
# learner finds the cause in the signals the lab is about (a span's own time, a profile), as in a
# real incident; the tour's `fault.` entries keep their records.
LAB_BAGGAGE_PREFIX = "lab-fault."
MAX_DELAY_MS = 10_000  # also the most CPU a `cpu` fault may spend
ERROR_STATUSES = (500, 502, 503, 504)
KINDS = ("delay", "cpu", "error")
FORMS = (f"delay:<0-{MAX_DELAY_MS}>", f"cpu:<0-{MAX_DELAY_MS}>", "error:<500|502|503|504>")
# Not a service: `fault.database=...` is applied by the die service to its own query, inside
# the database (diespec/store.py). Its error takes any word: the query fails as the database's.
DATABASE = "database"
DATABASE_FORMS = (f"delay:<0-{MAX_DELAY_MS}>", "error:<any word>")
# A malformed entry is logged, shortened: it comes from the caller.
LOGGED_ENTRY_LENGTH = 64


def one_of(forms, prefix=""):
    """The forms a message expects, each after `prefix`: `a, b or c`."""
    named = [prefix + form for form in forms]
    return ", ".join(named[:-1]) + " or " + named[-1]


EXPECTED = one_of(FORMS)
DATABASE_EXPECTED = one_of(DATABASE_FORMS)


class MalformedFault(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str  # "delay", "cpu" or "error"
    value: int | str  # milliseconds to wait or to compute, or the HTTP status to answer (for the database, any word)

    def __str__(self):
        return f"{self.kind}:{self.value}"


def parse_fault(text):
    """`delay:<0..10000 ms>`, `cpu:<0..10000 ms>` or `error:<500|502|503|504>`, else MalformedFault."""
    kind, _, value = text.strip().partition(":")
    if kind not in KINDS or not value.isascii() or not value.isdigit() or len(value) > 5:
        raise MalformedFault(text)
    number = int(value)
    if (kind in ("delay", "cpu") and number > MAX_DELAY_MS) or (kind == "error" and number not in ERROR_STATUSES):
        raise MalformedFault(text)
    return Fault(kind, number)


def parse_database_fault(text):
    """`delay:<0..10000 ms>` or `error:<any word>` (up to 32 letters, digits, '_' or '-'). No
    `cpu`: the database's time is spent in the database, not in a function of ours."""
    kind, _, value = text.strip().partition(":")
    if kind == "cpu":
        raise MalformedFault(text)
    if kind == "error" and value and len(value) <= 32 and value.replace("_", "").replace("-", "").isalnum() \
            and value.isascii():
        return Fault(kind, value)
    if kind == "error":
        raise MalformedFault(text)
    return parse_fault(text)


def burn_cpu_for_fault(milliseconds):
    """Computes, doing nothing useful, until this thread has spent `milliseconds` of CPU: a
    profile shows this function on top of the span's samples (a delay fault shows none)."""
    until = time.thread_time() + milliseconds / 1000
    spins = 0
    while time.thread_time() < until:
        spins += sum(range(1000))
    return spins


def baggage_key(service_name, prefix=BAGGAGE_PREFIX):
    return f"{prefix}{service_name}"


def baggage_entry(service_name, fault):
    """The entry as a learner writes it in the header: fault.die-service=error:503."""
    return f"{baggage_key(service_name)}={fault}"


def with_faults(faults, prefix=BAGGAGE_PREFIX):
    """The current context, its baggage carrying `faults` too, pairs of (service name, Fault), as
    the tour's entries (or a lab's, with LAB_BAGGAGE_PREFIX): attached, the requests
    instrumentation sends it with the next call."""
    carrying = context.get_current()
    for service_name, fault in faults:
        carrying = baggage.set_baggage(baggage_key(service_name, prefix), str(fault), context=carrying)
    return carrying


class FaultInjector:
    """Applies the fault the current request's baggage names for this service (or for the
    database, `service_name` DATABASE with `parse_database_fault`), if any: the tour's entry,
    recorded, else a lab's, applied without a record."""

    def __init__(self, service_name, enabled, sleep=time.sleep, parse=parse_fault, expected=EXPECTED,
                 burn=burn_cpu_for_fault):
        self.service_name = service_name
        self._key = baggage_key(service_name)
        self._lab_key = baggage_key(service_name, LAB_BAGGAGE_PREFIX)
        self._enabled = enabled
        self._sleep = sleep
        self._burn = burn
        self._parse = parse
        self._expected = expected

    def error_answer(self, fault):
        """(ErrorKind, fields) of the answer an error fault asks for: injected_fault, its status."""
        kind = errors.INJECTED_FAULT.with_status(fault.value)
        return kind, {"service": self.service_name, "fault": baggage_entry(self.service_name, fault)}

    def apply(self):
        """Waits out a delay fault, computes through a cpu fault; returns an error fault, which
        the caller answers with its status, or None when the request is to be answered as usual.
        Never raises: a malformed entry is ignored with one WARNING line."""
        fault = self.take()
        if fault is not None and fault.kind == "delay":
            self._sleep(fault.value / 1000)
            return None
        if fault is not None and fault.kind == "cpu":
            self._burn(fault.value)
            return None
        return fault

    def take(self):
        """The request's fault, left for the caller to apply, or None: the tour's entry recorded
        (span event, log line, counter), a lab's not at all. Never raises: a malformed entry is
        ignored with one WARNING line."""
        if not self._enabled:
            return None
        raw = baggage.get_baggage(self._key)
        if raw is None:
            lab_entry = baggage.get_baggage(self._lab_key)
            return None if lab_entry is None else self._parsed(lab_entry)
        fault = self._parsed(raw)
        if fault is not None:
            trace.get_current_span().add_event("fault injected",
                                               {"fault.kind": fault.kind, "fault.value": fault.value})
            logger.warning(
                "Fault injected",
                extra={"fault_target": self.service_name, "fault_kind": fault.kind, "fault_value": fault.value},
            )
            FAULTS_INJECTED.labels(fault.kind).inc()
        return fault

    def _parsed(self, raw):
        try:
            return self._parse(str(raw))
        except MalformedFault:
            logger.warning(
                "Malformed fault entry ignored",
                extra={"fault_entry": str(raw)[:LOGGED_ENTRY_LENGTH], "expected": self._expected},
            )
            return None
