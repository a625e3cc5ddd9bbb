"""Simulated users, one thread each, rolling through the frontend."""

import threading
import time

import requests
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator

from ops.faults import BAGGAGE_PREFIX, LAB_BAGGAGE_PREFIX, baggage_entry, with_faults
from ops.telemetry import current_trace_id
from traffic.summary import Outcome

tracer = trace.get_tracer("traffic")

# Distinct from the dice roller's own "roll die" span.
USER_ROLLS_SPAN = "user rolls die"
# On that span when a lab rolls (--lab): the lab's search links find its own traces by it.
LAB_ATTRIBUTE = "lab.name"
# Even --duration runs stop here: every loop is bounded.
MAX_ROLLS_PER_USER = 100_000


class Run:
    def __init__(self, frontend_url, session, faults=(), timeout_seconds=10.0, lab=None):
        """`faults`: [(service name, ops.faults.Fault)], carried by the rolls planned to; for
        `lab` (its name), as that lab's faults, recorded nowhere, and never in the summary."""
        self._frontend_url = frontend_url
        self._session = session
        self._faults = list(faults)
        self._lab = lab
        self._fault_prefix = LAB_BAGGAGE_PREFIX if lab else BAGGAGE_PREFIX
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self.outcomes = []
        self.stop = threading.Event()

    def user(self, user, rolls, deadline=None):
        """One user's rolls; ends early when `stop` is set or the deadline passes."""
        for count, roll in enumerate(rolls):
            if count >= MAX_ROLLS_PER_USER or self.stop.wait(roll.think_seconds):
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            outcome = self.roll(user, roll.die, self._faults if roll.faulted else (), roll.times)
            with self._lock:
                self.outcomes.append(outcome)

    def roll(self, user, die, faults=(), times=1):
        # The trace starts here, at the simulated user's action; the HTTP call under it is
        # the requests instrumentation's CLIENT span, which also sends the trace context.
        # The faults travel in the baggage header, put there by us, so that they go even when
        # the rolls are not traced (and the instrumentation sends no baggage of its own).
        headers = {}
        W3CBaggagePropagator().inject(headers, context=with_faults(faults, self._fault_prefix))
        fault = None if self._lab else ",".join(baggage_entry(service, fault) for service, fault in faults) or None
        return self._roll(user, die, times, headers, fault)

    def _roll(self, user, die, times, headers, fault):
        # One die: /roll; more: one batch, /roll-async, whose rolls the dice roller runs at once.
        path, params = ("/roll", {"die": die}) if times == 1 else ("/roll-async", {"die": die, "times": times})
        attributes = {"die.type": die, "die.count": times, "user.id": user}
        if self._lab:
            attributes[LAB_ATTRIBUTE] = self._lab
        with tracer.start_as_current_span(USER_ROLLS_SPAN, attributes=attributes) as span:
            started = time.perf_counter()
            try:
                response = self._session.get(
                    self._frontend_url + path, params=params, headers=headers, timeout=self._timeout
                )
                status = response.status_code
            except requests.Timeout:
                response, status = None, "timeout"
            except requests.ConnectionError:
                response, status = None, "connection_error"
            seconds = time.perf_counter() - started
            if status != 200:
                span.set_status(trace.StatusCode.ERROR, str(status))
            # The frontend's trace id (ours, when we traced), else our own span's, if any.
            trace_id = _answered_trace_id(response) or current_trace_id()
        return Outcome(user, die, status, seconds, trace_id, fault, times)

    def counts(self):
        with self._lock:
            return len(self.outcomes), sum(o.status != 200 for o in self.outcomes)


def _answered_trace_id(response):
    try:
        return response.json().get("trace_id")
    except (AttributeError, ValueError):
        return None
