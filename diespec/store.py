"""The die specifications, read from the database on every request: each call is one query,
a span of the SQLAlchemy instrumentation, counted and timed in database_queries_*."""

import logging
import threading
import time

from opentelemetry.instrumentation.utils import suppress_instrumentation

from diespec.database import (
    PING,
    SELECT_IDENTIFIERS,
    SELECT_ONE,
    DatabaseBusy,
    DatabaseUnavailable,
    failing,
    with_delay,
)
from diespec.metrics import DATABASE_POOL_TIMEOUTS, DATABASE_QUERIES, DATABASE_QUERY_DURATION
from diespec.specs import DieSpecification
from ops.metrics import trace_exemplar

logger = logging.getLogger(__name__)


class DieSpecificationStore:
    """Over a Database (diespec/database/read.py). `seed_order` is the seed file's identifiers, in
    the file's order: the list's order."""

    def __init__(self, database, seed_order=()):
        self._database = database
        self._rank = {identifier: rank for rank, identifier in enumerate(seed_order)}
        self._outage = Outage()

    @property
    def engine_name(self):
        return self._database.engine_name

    def get(self, identifier, fault=None):
        """The die's DieSpecification, None when no row has that identifier, or
        InvalidStoredSpecification when its row breaks the die contract."""
        rows = self._query("get", SELECT_ONE, {"identifier": identifier}, fault)
        return DieSpecification.from_row(*rows[0]) if rows else None

    def identifiers(self, fault=None):
        """Every die's identifier: the seed file's in its order (the page lists `fair` first),
        then any other (inserted with SQL) by code point, the same on both engines."""
        rows = self._query("list", SELECT_IDENTIFIERS, {}, fault)
        return sorted((identifier for (identifier,) in rows), key=lambda i: (self._rank.get(i, len(self._rank)), i))

    def availability(self):
        """(True, None) when the database answers now, else (False, what kind of failure).
        No span: probes make none. A pool with no connection free is no outage: available."""
        try:
            with suppress_instrumentation():
                self._database.read(PING)
        except DatabaseUnavailable as error:
            self._outage.began(error)
            return False, error.kind
        except DatabaseBusy:
            return True, None
        self._outage.ended()
        return True, None

    def count_quietly(self):
        """How many dice the table holds, or None when it cannot be asked now: for a worker's
        start, so no span and no count in database_queries_total (it is no request's query)."""
        try:
            with suppress_instrumentation():
                return len(self._database.read(SELECT_IDENTIFIERS))
        except (DatabaseUnavailable, DatabaseBusy):
            return None

    def _query(self, query_type, query, parameters, fault):
        """The rows of `query`; a fault (ops/faults.py) makes the database itself wait or fail.
        Each read is counted once: its rows or the database's failure in database_queries_total,
        and a read the pool took the time of (DatabaseBusy, answered database_busy, no outage)
        in database_connection_pool_timeouts_total instead."""
        if fault is not None and fault.kind == "delay":
            query, parameters = with_delay(query), {**parameters, "delay_seconds": fault.value / 1000}
        elif fault is not None:
            query = failing(query)
        started = time.perf_counter()
        try:
            rows = self._database.read(query, parameters)
        except DatabaseBusy:
            DATABASE_POOL_TIMEOUTS.inc()
            raise
        except DatabaseUnavailable as error:
            self._record(query_type, "error", started)
            if fault is None:  # a failure asked for is no outage
                self._outage.began(error)
            raise
        self._record(query_type, "success", started)
        self._outage.ended()
        return rows

    @staticmethod
    def _record(query_type, result, started):
        DATABASE_QUERIES.labels(query_type, result).inc()
        DATABASE_QUERY_DURATION.labels(query_type).observe(time.perf_counter() - started, exemplar=trace_exemplar())


class Outage:
    """One ERROR line when the database stops answering and one INFO line when it answers
    again, instead of a line for every request in between (per worker process)."""

    def __init__(self):
        self._down = False
        self._lock = threading.Lock()

    def began(self, error):
        with self._lock:
            if self._down:
                return
            self._down = True
        logger.error("Database unavailable",
                     extra={"reason": error.reason, "kind": error.kind, "error_type": error.error_type})

    def ended(self):
        if not self._down:  # the common case, without the lock
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.info("Database available again")
