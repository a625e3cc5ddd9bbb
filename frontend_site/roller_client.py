"""The frontend's client of the dice roller: one roll or a batch, or a typed exception."""

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
    """The dice roller answered with an error of its own, which the frontend passes on:
    `fields` are its error, message and, for a failed batch, how many rolls failed."""

    def __init__(self, status, fields):
        super().__init__(f"{status} {fields['error']}")
        self.status, self.fields = status, fields


class DiceRollerClient:
    def __init__(self, base_url, timeout_seconds, session):
        self._base_url = base_url
        self._timeout = timeout_seconds
        self._session = session

    def roll(self, die_type):
        """The value rolled with `die_type`."""
        body = self._get("/roll", {"die": die_type}, duration=DICE_ROLLER_REQUEST_DURATION)
        if not isinstance(body.get("roll"), int):
            raise DiceRollerBadAnswer("no roll")
        return body["roll"]

    def roll_many(self, die_type, times):
        """{"die", "count", "rolls", "total"}: `times` rolls of `die_type`, rolled at once."""
        body = self._get("/roll-async", {"die": die_type, "times": times})
        rolls = body.get("rolls")
        if not (isinstance(rolls, list) and len(rolls) == times and all(isinstance(roll, int) for roll in rolls)):
            raise DiceRollerBadAnswer("no rolls")
        return {"die": die_type, "count": times, "rolls": rolls, "total": sum(rolls)}

    def _get(self, path, params, duration=None):
        """The JSON object of a 200 answer, or a DiceRollerError. `duration`: a histogram
        that times the call. Any failure to get a usable answer is one WARNING line."""
        started = time.perf_counter()
        try:
            answer = self._session.get(self._base_url + path, params=params, timeout=self._timeout)
            body = _json_object(answer)
        except requests.Timeout:
            raise self._failed(DiceRollerTimeout, "timeout") from None
        except requests.ConnectionError:
            raise self._failed(DiceRollerUnavailable, "connection_error") from None
        except requests.RequestException:  # the answer broke off, or could not be decoded
            raise self._failed(DiceRollerBadAnswer, "broken_answer") from None
        finally:
            elapsed = time.perf_counter() - started
            if duration is not None:
                duration.observe(elapsed, exemplar=trace_exemplar())

        fields = {"die_type": params["die"], "status_code": answer.status_code, "duration_ms": round(elapsed * 1000, 3)}
        logger.info("Dice roller response received", extra=fields)
        if body is None:
            raise self._failed(DiceRollerBadAnswer, "unusable_answer", answer.status_code)
        if answer.status_code == 200:
            return body
        if answer.status_code >= 400 and "error" in body:
            fields = {"error": str(body["error"]), "message": str(body.get("message", ""))}
            if isinstance(body.get("failed"), int):
                fields["failed"] = body["failed"]
            raise RollRefused(answer.status_code, fields)
        raise self._failed(DiceRollerBadAnswer, "unusable_answer", answer.status_code)

    @staticmethod
    def _failed(error_class, reason, status_code=None):
        """The error to raise, said once in the log (with the trace id, as every line)."""
        logger.warning("Dice roller gave no usable answer", extra={"reason": reason, "status_code": status_code})
        return error_class(reason)


def _json_object(answer):
    """The answer's JSON object, or None."""
    try:
        body = answer.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
