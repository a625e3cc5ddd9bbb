"""`Database`, through which a worker reads: each read within one budget, retried once on a
connection that died while idle, and its failure named for where its time went."""

import threading
import time
from contextlib import contextmanager

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from diespec.database.deadline import Backstop, Budget, Connector, keep_the_pool_on_a_cut, query_within, spending
from diespec.database.failures import DatabaseBusy, DatabaseUnavailable, classify, timeout
from diespec.database.statements import statement
from diespec.database.telemetry import PoolGauges, name_the_spans
from diespec.metrics import DATABASE_POOL_WAIT

# A read that ran out of time after waiting at least this share of its budget for a pooled
# connection, while the database answered other reads, was ended by the pool and not by the
# database: database_busy (docs/telemetry.md, "Where a read's time went").
BUSY_POOL_SHARE = 1 / 3


class Database:
    """A worker's reads, each within one budget of `timeout_seconds` (DATABASE_TIMEOUT_SECONDS):
    the wait for a pooled connection, connecting and the query together, every wait given what
    is left of it (deadline.py). A connection that died while idle is replaced before the read
    fails; a read that fails says why (failures.py), and database_busy when the pool took its time."""

    def __init__(self, engine, timeout_seconds):
        self.engine = engine
        self.timeout = timeout_seconds
        self.pool_size = engine.pool.size()
        # SQLAlchemy's pool gives every checkout the same timeout; a read must stop waiting when
        # its budget ends. So a read waits here, for one of the pool's places, for what is left
        # of its budget, and holds it to its end (the retry too): the pool then always has a
        # connection for it, or room to make one.
        self._places = threading.BoundedSemaphore(self.pool_size)
        self._backstop = Backstop()
        event.listen(engine, "handle_error", keep_the_pool_on_a_cut)
        self._connector = Connector(self.pool_size) if engine.dialect.name == "postgresql" else None
        if self._connector:
            event.listen(engine, "do_connect", self._connector)
        name_the_spans(engine)
        self._gauges = PoolGauges(engine.pool)
        self._answered_at = 0.0  # when a read last got its rows (monotonic)

    @property
    def engine_name(self):
        return self.engine.dialect.name

    def read(self, query, parameters=None):
        """The rows of `query` (a statement's text), or DatabaseUnavailable, or DatabaseBusy."""
        with spending(Budget(self.timeout)) as budget, self._place_in_the_pool(budget):
            for attempt in (1, 2):
                try:
                    with self._connection(budget) as connection:
                        rows = connection.execute(statement(query), parameters or {}).all()
                    self._answered_at = time.monotonic()
                    return rows
                except DBAPIError as error:
                    # A pooled connection that died while idle (the server restarted): SQLAlchemy
                    # has dropped it and every connection as old; once more, on a fresh one.
                    if attempt == 1 and error.connection_invalidated and budget.remaining() > 0:
                        continue
                    raise self._failure(classify(error, budget), budget) from error
                except SQLAlchemyError as error:
                    raise self._failure(classify(error, budget), budget) from error

    @contextmanager
    def _place_in_the_pool(self, budget):
        """One of the pool's places for the read, waited for within its budget; that wait, and
        it alone, in database_connection_pool_wait_seconds."""
        placed = self._places.acquire(timeout=max(budget.remaining(), 0))
        budget.pool_wait = budget.spent()
        DATABASE_POOL_WAIT.observe(budget.pool_wait)
        if not placed:
            failure = timeout(f"no connection of {self.pool_size} came free within {budget.pool_wait:.2f} s")
            raise self._failure(failure, budget)
        try:
            yield
        finally:
            self._places.release()

    def _failure(self, failure, budget):
        """DatabaseBusy when the read ran out of time for its wait for a connection: it waited
        BUSY_POOL_SHARE of its budget or more, and the database answered another read meanwhile
        (a frozen one answers none: every connection is stuck on it, an outage). Else the
        DatabaseUnavailable that `failure` is."""
        pool_took_it = budget.pool_wait >= BUSY_POOL_SHARE * budget.seconds and self._answered_at >= budget.started
        if failure.timed_out and pool_took_it:
            return DatabaseBusy(self.pool_size, budget.pool_wait)
        return DatabaseUnavailable(failure)

    @contextmanager
    def _connection(self, budget):
        """A pooled connection for one query, watched by the Backstop, the query given what is
        left of the budget; given back after it.

        Taken without a span of its own: the instrumentation would make a `connect` span of
        every checkout, and a roll's trace holds the query alone (docs/telemetry.md)."""
        with suppress_instrumentation():
            connection = self.engine.connect()
        self._gauges.report()
        try:
            with connection, self._backstop.watch(connection, budget), query_within(connection, budget):
                yield connection
        finally:
            self._gauges.report()

    def close(self):
        self._backstop.stop()
        if self._connector:
            self._connector.close()
        self.engine.dispose()
