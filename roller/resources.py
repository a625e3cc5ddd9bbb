"""The dice roller's HTTP resources."""

import contextvars
import logging
import time
from concurrent.futures import wait

from opentelemetry import trace

from ops import VERSION, errors
from ops.falcon_app import ApiError, get_identifier_param, get_times_param
from ops.metrics import trace_exemplar
from ops.services import DICE_ROLLER
from roller.dice import DieFailed
from roller.die_client import DieServiceBadResponse, DieServiceError, DieServiceUnavailable, UnknownDie
from roller.metrics import (
    ASYNC_ROLL_BATCH_SIZE,
    ASYNC_ROLL_DURATION,
    ASYNC_ROLLS,
    ASYNC_ROLLS_IN_PROGRESS,
    ROLL_VALUE,
    ROLLS,
)

logger = logging.getLogger(__name__)

# What the caller is told when the die service could not give a usable die.
DIE_SERVICE_ERRORS = {
    UnknownDie: (errors.UNKNOWN_DIE, {}),
    DieServiceUnavailable: (errors.DIE_SERVICE_UNAVAILABLE, {}),
}


def get_die(die_service, die_type):
    """The die's specification from the die service, or the ApiError to answer instead: a
    die-service error answer is named in the 502 (`The die service answered 503
    database_unavailable.`), so the caller sees which hop failed and how."""
    try:
        return die_service.get_die(die_type)
    except DieServiceBadResponse as error:
        if error.error:
            raise ApiError(errors.UPSTREAM_ERROR, upstream="die service", status=error.status,
                           upstream_error=error.error) from error
        raise ApiError(errors.BAD_GATEWAY, upstream="die service") from error
    except DieServiceError as error:
        kind, fields = DIE_SERVICE_ERRORS[type(error)]
        raise ApiError(kind, **fields) from error


class ServiceInfo:
    def on_get(self, req, resp):
        resp.media = {
            "service": DICE_ROLLER.name,
            "version": VERSION,
            "endpoints": [
                "/", "/roll?die={identifier}", "/roll-async?die={identifier}&times={1-20}",
                "/healthz", "/readyz", "/metrics", "/openapi.json",
            ],
        }


class Roll:
    """GET /roll?die=X: the die's specification from the die service, then a roll."""

    def __init__(self, die_service, dice):
        self._die_service = die_service
        self._dice = dice

    def on_get(self, req, resp):
        die_type = get_identifier_param(req, "die")
        span = trace.get_current_span()
        span.set_attribute("die.type", die_type)
        logger.info("Roll request received", extra={"die_type": die_type})

        die = get_die(self._die_service, die_type)
        try:
            value = self._dice.roll(die_type, die)
        except DieFailed as failure:
            span.set_attribute("die.error", True)
            span.record_exception(failure)
            ROLLS.labels(die_type, "error").inc()
            logger.error("Die triggered error condition", extra={"die_type": die_type})
            raise ApiError(errors.DIE_FAILED) from failure

        span.set_attribute("die.error", False)
        span.set_attribute("die.result", value)
        ROLLS.labels(die_type, "success").inc()
        ROLL_VALUE.labels(die_type).observe(value, exemplar=trace_exemplar())
        logger.info("Roll completed", extra={"die_type": die_type, "roll_value": value})
        resp.media = {"die": die_type, "roll": value}


class RollMany:
    """GET /roll-async?die=X&times=N: the die's specification once, then N rolls at the same
    time on the worker's roll threads (`roll_pool`, a bounded concurrent.futures executor).
    The request's thread waits for all of them: the batch takes as long as its slowest roll."""

    def __init__(self, die_service, dice, roll_pool):
        self._die_service = die_service
        self._dice = dice
        self._roll_pool = roll_pool

    def on_get(self, req, resp):
        die_type = get_identifier_param(req, "die")
        times = get_times_param(req)
        span = trace.get_current_span()
        span.set_attribute("die.type", die_type)
        span.set_attribute("die.count", times)
        logger.info("Async roll batch started", extra={"die_type": die_type, "times": times})

        die = get_die(self._die_service, die_type)
        started = time.perf_counter()
        # A pool's threads do not inherit the caller's context: each roll runs in a copy of
        # it, so that its span is a child of this request's span and its log lines carry the
        # trace id. One copy per roll: a context can be entered by one thread at a time.
        rolls = [
            self._roll_pool.submit(contextvars.copy_context().run, self._roll, die_type, die, index)
            for index in range(times)
        ]
        wait(rolls)  # every roll runs to its end, failed or not
        duration = time.perf_counter() - started
        ASYNC_ROLL_BATCH_SIZE.observe(times)
        ASYNC_ROLL_DURATION.observe(duration, exemplar=trace_exemplar())
        failed = sum(isinstance(roll.exception(), DieFailed) for roll in rolls)
        fields = {"die_type": die_type, "times": times, "duration_ms": round(duration * 1000, 3)}
        if failed:
            failure = DieFailed(f"{failed} of {times} {die_type} dice fell off the table")
            span.set_attribute("die.error", True)
            span.record_exception(failure)
            logger.error("Async roll batch failed", extra={**fields, "failed": failed})
            raise ApiError(errors.DICE_FAILED, details={"failed": failed}, failed=failed, count=times) from failure

        values = [roll.result() for roll in rolls]  # raises what a roll raised, if not DieFailed
        total = sum(values)
        span.set_attribute("die.error", False)
        span.set_attribute("die.total", total)
        logger.info("Async roll batch completed", extra={**fields, "total": total, "rolls": values})
        resp.media = {"die": die_type, "count": times, "rolls": values, "total": total}

    def _roll(self, die_type, die, roll_index):
        """One roll, on a roll thread."""
        with ASYNC_ROLLS_IN_PROGRESS.track_inprogress():
            try:
                value = self._dice.roll_in_batch(die_type, die, roll_index)
            except DieFailed:
                ASYNC_ROLLS.labels(die_type, "error").inc()
                raise
        ASYNC_ROLLS.labels(die_type, "success").inc()
        return value
