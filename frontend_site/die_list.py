"""The die service's list of dice, fetched at start-up and again when stale."""

import logging
import threading
import time

import requests
from opentelemetry import trace

from frontend_site.metrics import DIE_TYPES_AVAILABLE

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class DieList:
    def __init__(self, die_service_url, session, timeout_seconds, max_age_seconds, clock=time.monotonic):
        self._url = f"{die_service_url}/dice"
        self._session = session
        self._timeout = timeout_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._identifiers = []
        self._fetched_at = None

    def identifiers(self):
        """The dice, refreshed first when the list is older than its maximum age.

        A failed fetch counts as a fetch: a die service that is down is asked again
        after max_age, not on every page load.
        """
        if self._fetched_at is None or self._clock() - self._fetched_at > self._max_age:
            self.refresh()
        return self._identifiers

    def refresh(self):
        # One fetch at a time; threads arriving meanwhile keep the list they have.
        if not self._lock.acquire(blocking=False):
            return
        try:
            with tracer.start_as_current_span("fetch die list"):
                self._identifiers = self._fetch() or self._identifiers
        finally:
            self._fetched_at = self._clock()
            self._lock.release()

    def _fetch(self):
        try:
            response = self._session.get(self._url, timeout=self._timeout)
            response.raise_for_status()
            identifiers = response.json()["identifiers"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            logger.error(
                "Failed to fetch die list from die service",
                extra={"url": self._url, "reason": type(error).__name__},
            )
            return None
        logger.info("Die list fetched from die service", extra={"identifiers": identifiers})
        DIE_TYPES_AVAILABLE.set(len(identifiers))
        return identifiers
