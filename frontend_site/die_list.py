"""The die service's list of dice, fetched at start-up and again in the background when stale, and
for each page, which offers the dice the die service has when it is loaded."""

import logging
import threading
import time

import requests
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import StatusCode

from frontend_site.metrics import DIE_TYPES_AVAILABLE
from ops.validation import is_valid_identifier

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# With no list yet (the die service was still starting, or down, when the frontend started), a
# failed fetch is tried again this soon: a page with no dice is no page at all.
RETRY_WITHOUT_A_LIST_SECONDS = 1.0


def start_daemon_thread(work):
    threading.Thread(target=work, name="die-list-refresh", daemon=True).start()


class DieList:
    """The dice as last fetched. A roll never waits for a fetch: a stale list is refreshed in
    the background, while rolls go on with the list they have. The page asks for the list the
    die service has now (`fresh`): a fetch, waited for at most its timeout, each its own trace."""

    def __init__(
        self,
        die_service_url,
        session,
        timeout_seconds,
        max_age_seconds,
        clock=time.monotonic,
        start_in_background=start_daemon_thread,
    ):
        self._url = f"{die_service_url}/dice"
        self._session = session
        self._timeout = timeout_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._start_in_background = start_in_background
        self._lock = threading.Lock()
        self._refreshing = False
        self._refreshed = threading.Event()  # set when the refresh under way ends
        self._failing = False  # the last fetch failed: not asked again before _next_fetch_at
        self._identifiers = []
        self._next_fetch_at = None  # clock() from which the list is stale

    def identifiers(self, fresh=False):
        """The dice as last fetched; a stale list is refreshed in the background. With `fresh` (the
        page's): fetched now and waited for, at most the fetch's timeout, so that a die removed a
        moment ago (a lab's `stop`) is not offered; after a failed fetch, not before its retry, so
        that a die service that is down does not slow every page."""
        due = self._next_fetch_at is None or self._clock() > self._next_fetch_at
        if due or (fresh and not self._failing):
            refreshed = self._refresh_in_background()
            if fresh:
                refreshed.wait(self._timeout)
        return self._identifiers

    def _refresh_in_background(self):
        """Starts a refresh unless one is under way; the Event set when it ends."""
        with self._lock:  # one refresh at a time
            if self._refreshing:
                return self._refreshed
            self._refreshing = True
            self._refreshed = refreshed = threading.Event()
        try:
            self._start_in_background(self.refresh)
        except RuntimeError:  # no thread to be had now: the next caller tries again
            self._refreshing = False
            refreshed.set()
            logger.exception("Could not start the die list refresh")
        return refreshed

    def refresh(self):
        """Fetches the list now, as a trace of its own: never part of the request that
        found the list stale. A failed fetch counts as a fetch, so a die service that is
        down is asked again after max_age, not on every page load; with no list at all yet,
        after RETRY_WITHOUT_A_LIST_SECONDS."""
        try:
            with tracer.start_as_current_span("fetch die list", context=Context()) as span:
                identifiers, problem = self._fetch()
                if problem:
                    span.set_status(StatusCode.ERROR, problem)
                self._identifiers = identifiers or self._identifiers
                self._failing = bool(problem)
        finally:
            wait = self._max_age if self._identifiers else min(self._max_age, RETRY_WITHOUT_A_LIST_SECONDS)
            self._next_fetch_at = self._clock() + wait
            self._refreshing = False
            self._refreshed.set()

    def _fetch(self):
        """(identifiers, None), or (None, what went wrong)."""
        try:
            response = self._session.get(self._url, timeout=self._timeout)
            response.raise_for_status()
            identifiers = response.json()["identifiers"]
            problem = None if _are_identifiers(identifiers) else "identifiers is not a list of die identifiers"
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            problem = type(error).__name__
        if problem:
            logger.error("Failed to fetch die list from die service", extra={"url": self._url, "reason": problem})
            return None, problem
        logger.info("Die list fetched from die service", extra={"identifiers": identifiers})
        DIE_TYPES_AVAILABLE.set(len(identifiers))
        return identifiers, None


def _are_identifiers(value):
    """A list of identifiers: what the page offers and what becomes a metric label value."""
    return isinstance(value, list) and all(is_valid_identifier(item) for item in value)
