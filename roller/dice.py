"""Rolling a die: the simulated delay, the simulated failure and the face, in a `roll die` span."""

import logging
import time

from opentelemetry import trace

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

ROLL_SPAN = "roll die"


class DieFailed(Exception):
    """The simulated failure: the die fell off the table."""


class DieRoller:
    """Rolls a Die (roller.die_client): waits uniform(0, max_delay_seconds), fails with the
    die's error_rate, else lands on one of its faces. One per worker, shared by its threads.

    Each roll is a `roll die` span, which records a DieFailed as an exception event and
    status ERROR as the exception leaves it."""

    def __init__(self, max_delay_seconds, rng, sleep=time.sleep):
        self._max_delay_seconds = max_delay_seconds
        self._rng = rng  # a random.Random: its methods are safe to call from many threads
        self._sleep = sleep

    def roll(self, die_type, die):
        """The face rolled (GET /roll), or DieFailed."""
        with tracer.start_as_current_span(ROLL_SPAN, attributes={"die.type": die_type}):
            return self._land(die_type, die)

    def roll_in_batch(self, die_type, die, roll_index):
        """One roll of a batch (GET /roll-async), `roll_index` 0..N-1. It logs its outcome
        inside its span, so that the line carries the batch's trace id and its own span id."""
        attributes = {"die.type": die_type, "die.roll_index": roll_index}
        with tracer.start_as_current_span(ROLL_SPAN, attributes=attributes):
            try:
                value = self._land(die_type, die)
            except DieFailed:
                logger.error("Die triggered error condition", extra={"die_type": die_type, "roll_index": roll_index})
                raise
            logger.info("Async roll completed", extra={"roll_index": roll_index, "roll_value": value})
            return value

    def _land(self, die_type, die):
        span = trace.get_current_span()
        self._sleep(self._rng.uniform(0, self._max_delay_seconds))
        failed = self._rng.random() < die.error_rate
        span.set_attribute("die.error", failed)
        if failed:
            raise DieFailed(f"The {die_type} die fell off the table")
        value = self._rng.choice(die.faces)
        span.set_attribute("die.result", value)
        return value
