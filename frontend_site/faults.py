"""The page's "Break something" choices: each one fault (ops/faults.py) carried by one roll."""

from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context

from ops.faults import DATABASE, Fault, baggage_entry, with_faults
from ops.services import DICE_ROLLER, DIE_SERVICE


@dataclass(frozen=True)
class FaultChoice:
    name: str  # the form's value
    label: str
    service_name: str
    fault: Fault

    @property
    def entry(self):
        return baggage_entry(self.service_name, self.fault)


CHOICES = [
    FaultChoice("die-service-slow", "Die service slow (1.5 s)", DIE_SERVICE.name, Fault("delay", 1500)),
    FaultChoice("die-service-fails", "Die service fails (503)", DIE_SERVICE.name, Fault("error", 503)),
    # Applied by the die service to its query: the time is in the query's span, the error is the database's.
    FaultChoice("database-slow", "Database query slow (0.8 s)", DATABASE, Fault("delay", 800)),
    FaultChoice("database-fails", "Database query fails", DATABASE, Fault("error", "query_failed")),
    FaultChoice(
        "dice-roller-slow", "Dice roller slow, the frontend gives up (6 s)", DICE_ROLLER.name, Fault("delay", 6000)
    ),
    # The same slow span as a delay, spent computing: the profile shows the function (docs/telemetry.md, "Profiles").
    FaultChoice(
        "dice-roller-computes", "Dice roller busy computing (0.3 s of CPU)", DICE_ROLLER.name, Fault("cpu", 300)
    ),
    FaultChoice("dice-roller-fails", "Dice roller fails (500)", DICE_ROLLER.name, Fault("error", 500)),
]
CHOICE_BY_NAME = {choice.name: choice for choice in CHOICES}


@contextmanager
def carried(choice):
    """Runs the block with `choice`'s fault in the baggage: the requests instrumentation
    sends it with the call to the dice roller, which passes it on to the die service."""
    if choice is None:
        yield
        return
    token = context.attach(with_faults([(choice.service_name, choice.fault)]))
    try:
        yield
    finally:
        context.detach(token)
