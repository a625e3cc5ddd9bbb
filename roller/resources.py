"""The dice roller's HTTP resources."""

import logging
import time

from opentelemetry import trace

from ops import VERSION, errors
from ops.falcon_app import ApiError, get_identifier_param
from ops.metrics import trace_exemplar
from ops.services import DICE_ROLLER
from roller.die_client import DieServiceBadResponse, DieServiceError, DieServiceUnavailable, UnknownDie
from roller.metrics import ROLL_VALUE, ROLLS

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class DieFailed(Exception):
    """The simulated failure: the die fell off the table."""


# What the caller is told when the die service could not give a usable die.
DIE_SERVICE_ERRORS = {
    UnknownDie: (errors.UNKNOWN_DIE, {}),
    DieServiceUnavailable: (errors.DIE_SERVICE_UNAVAILABLE, {}),
    DieServiceBadResponse: (errors.BAD_GATEWAY, {"upstream": "die service"}),
}


class ServiceInfo:
    def on_get(self, req, resp):
        resp.media = {
            "service": DICE_ROLLER.name,
            "version": VERSION,
            "endpoints": ["/", "/roll?die={identifier}", "/healthz", "/readyz", "/metrics", "/openapi.json"],
        }


class Roll:
    """GET /roll?die=X: the die's specification from the die service, then a roll."""

    def __init__(self, die_service, max_delay_seconds, rng, sleep=time.sleep):
        self._die_service = die_service
        self._max_delay_seconds = max_delay_seconds
        self._rng = rng
        self._sleep = sleep

    def on_get(self, req, resp):
        die_type = get_identifier_param(req, "die")
        span = trace.get_current_span()
        span.set_attribute("die.type", die_type)
        logger.info("Roll request received", extra={"die_type": die_type})

        try:
            die = self._die_service.get_die(die_type)
        except DieServiceError as error:
            kind, fields = DIE_SERVICE_ERRORS[type(error)]
            raise ApiError(kind, **fields) from error
        try:
            value = self._roll(die_type, die)
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

    def _roll(self, die_type, die):
        # The span records DieFailed as an exception event and sets status ERROR.
        with tracer.start_as_current_span("roll die", attributes={"die.type": die_type}) as span:
            self._sleep(self._rng.uniform(0, self._max_delay_seconds))
            if self._rng.random() < die.error_rate:
                raise DieFailed(f"The {die_type} die fell off the table")
            value = self._rng.choice(die.faces)
            span.set_attribute("die.result", value)
            return value
