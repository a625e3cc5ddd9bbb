"""The dice roller's client of the die service."""

import logging
import re
import time
from dataclasses import dataclass

import requests

from ops.metrics import OTHER, trace_exemplar
from ops.validation import die_problem
from roller.metrics import DIE_SERVICE_REQUEST_DURATION, DIE_SERVICE_REQUESTS

logger = logging.getLogger(__name__)


class DieServiceError(Exception):
    """The die service could not give a usable specification."""


class UnknownDie(DieServiceError):
    pass


class DieServiceUnavailable(DieServiceError):
    pass


class DieServiceBadResponse(DieServiceError):
    """`status` and `error`: the die service's HTTP status and its error code (one of ours,
    `database_unavailable`, ...), when it answered with one."""

    def __init__(self, reason, status=None, error=None):
        super().__init__(reason)
        self.status, self.error = status, error


@dataclass(frozen=True)
class Die:
    faces: list
    error_rate: float


class DieServiceClient:
    def __init__(self, base_url, timeout_seconds, session):
        self._base_url = base_url
        self._timeout = timeout_seconds
        self._session = session
        # Identifiers the die service has confirmed: the only ones used as metric labels.
        self._known_identifiers = set()

    def get_die(self, identifier):
        logger.info("Querying die service for specification", extra={"identifier": identifier})
        started = time.perf_counter()
        try:
            response = self._session.get(
                f"{self._base_url}/dice", params={"identifier": identifier}, timeout=self._timeout
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            # A connect timeout is both; it counts as a timeout.
            reason = "timeout" if isinstance(error, requests.Timeout) else "connection_error"
            self._record(identifier, reason, started)
            logger.error("Die service unavailable", extra={"identifier": identifier, "reason": reason})
            raise DieServiceUnavailable(reason) from None
        except requests.RequestException:
            # It began to answer, then broke off (or sent what cannot be decoded): the die
            # service is there but gave nothing usable, a bad gateway, not an outage.
            self._record(identifier, "connection_error", started)
            logger.warning("Die service returned error", extra={"identifier": identifier, "reason": "broken_answer"})
            raise DieServiceBadResponse("broken_answer") from None

        status = response.status_code
        die = _parse_die(response) if status == 200 else None
        if die is not None:
            self._known_identifiers.add(identifier)
        self._record(identifier, str(status), started)
        if die is None:
            error = _error_code(response)
            logger.warning("Die service returned error",
                           extra={"identifier": identifier, "status_code": status, "error": error})
            raise UnknownDie(identifier) if status == 404 else DieServiceBadResponse(f"status {status}", status, error)
        return die

    def is_reachable(self):
        try:
            return self._session.get(f"{self._base_url}/healthz", timeout=min(self._timeout, 1.0)).ok
        except requests.RequestException:
            return False

    def _record(self, identifier, status, started):
        label = identifier if identifier in self._known_identifiers else OTHER
        DIE_SERVICE_REQUESTS.labels(label, status).inc()
        DIE_SERVICE_REQUEST_DURATION.observe(time.perf_counter() - started, exemplar=trace_exemplar())


# The die service's error codes are words of lower case and underscores (ops/errors.py): only such
# a code is repeated in the roller's answer.
ERROR_CODE = re.compile(r"[a-z_]{1,64}")


def _error_code(response):
    """The `error` code of an error answer from the die service, or None."""
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) and ERROR_CODE.fullmatch(code) else None


def _parse_die(response):
    """The Die in a 200 answer, or None when it is not a usable specification."""
    try:
        body = response.json()
        faces, error_rate = body["faces"], body["error_rate"]
    except (ValueError, TypeError, KeyError):
        return None
    return None if die_problem(faces, error_rate) else Die(faces, float(error_rate))
