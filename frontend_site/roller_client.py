"""The frontend's client of the dice roller: one roll, or a typed exception."""

import logging
import time

import requests

from frontend_site.metrics import DICE_ROLLER_REQUEST_DURATION
from ops.metrics import trace_exemplar

logger = logging.getLogger(__name__)


class DiceRollerError(Exception):
    """The dice roller gave no roll."""


class DiceRollerUnavailable(DiceRollerError):
    pass


class DiceRollerTimeout(DiceRollerError):
    pass


class DiceRollerBadAnswer(DiceRollerError):
    pass


class RollRefused(DiceRollerError):
    """The dice roller answered with an error of its own, which the frontend passes on."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message = status, code, message


class DiceRollerClient:
    def __init__(self, base_url, timeout_seconds, session):
        self._roll_url = f"{base_url}/roll"
        self._timeout = timeout_seconds
        self._session = session

    def roll(self, die_type):
        """The value rolled with `die_type`."""
        started = time.perf_counter()
        try:
            answer = self._session.get(self._roll_url, params={"die": die_type}, timeout=self._timeout)
        except requests.Timeout:
            raise DiceRollerTimeout() from None
        except requests.ConnectionError:
            raise DiceRollerUnavailable() from None
        finally:
            elapsed = time.perf_counter() - started
            DICE_ROLLER_REQUEST_DURATION.observe(elapsed, exemplar=trace_exemplar())

        logger.info(
            "Dice roller response received",
            extra={"die_type": die_type, "status_code": answer.status_code, "duration_ms": round(elapsed * 1000, 3)},
        )
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code == 200 and isinstance(body, dict) and isinstance(body.get("roll"), int):
            return body["roll"]
        if answer.status_code >= 400 and isinstance(body, dict) and "error" in body:
            raise RollRefused(answer.status_code, str(body["error"]), str(body.get("message", "")))
        raise DiceRollerBadAnswer(f"status {answer.status_code}")
