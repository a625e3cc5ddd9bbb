"""`Database`, through which a worker reads: each read within one budget, retried once on a
connection that died while idle."""

import time
from contextlib import contextmanager

import sqlalchemy
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from diespec.database.deadline import NARROWING_SECONDS, Backstop, Budget, Connector, spending
from diespec.database.failures import DatabaseUnavailable, PoolExhausted, classify, timeout
from diespec.database.statements import statement
from diespec.database.telemetry import PoolGauges, name_the_spans
from diespec.metrics import DATABASE_POOL_TIMEOUTS, DATABASE_POOL_WAIT


class Database:
    """A worker's reads, each within one budget of `timeout_seconds` (DATABASE_TIMEOUT_SECONDS):
    the wait for a pooled connection, connecting and the query together. It ends the server's
    way when the server answers (statement_timeout, given what is left of the budget), by the
    Backstop when it does not, and a connection that died while idle is replaced before the
    read fails. The pool's gauges are read from the pool itself, never counted from events."""

    def __init__(self, engine, timeout_seconds):
        self.engine = engine
        self.timeout = timeout_seconds
        self.pool_size = engine.pool.size()
        self._postgres = engine.dialect.name == "postgresql"
        self._backstop = Backstop()
        self._connector = Connector(self.pool_size) if self._postgres else None
        if self._connector:
            event.listen(engine, "do_connect", self._connector)
        name_the_spans(engine)
        self._gauges = PoolGauges(engine.pool)
        self._answered_at = 0.0  # when a read last got its rows (monotonic)

    @property
    def engine_name(self):
        return self.engine.dialect.name

    def read(self, query, parameters=None):
        """The rows of `query` (a statement's text), or DatabaseUnavailable, or PoolExhausted."""
        with spending(Budget(self.timeout)) as budget:
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
                    raise self._unavailable(error, budget) from error
                except SQLAlchemyError as error:
                    raise self._unavailable(error, budget) from error

    @staticmethod
    def _unavailable(error, budget):
        return DatabaseUnavailable(classify(error, budget))

    @contextmanager
    def _connection(self, budget):
        """A pooled connection for one query, its wait timed, watched by the Backstop, with
        the statement timeout narrowed to what is left; given back after it.

        Taken without a span of its own: the instrumentation would make a `connect` span of
        every checkout, and a roll's trace holds the query alone (docs/telemetry.md)."""
        try:
            with suppress_instrumentation():
                connection = self.engine.connect()
        except sqlalchemy.exc.TimeoutError as error:  # the pool's own: nothing came free in time
            DATABASE_POOL_TIMEOUTS.inc()
            waited = budget.spent()
            if self._answered_at < budget.started:
                # Every connection held, and not one read answered the whole time: the database
                # does not answer (frozen, its queries all hung), and that is what to say.
                raise DatabaseUnavailable(timeout(
                    f"no connection came free within {waited:.2f} s and no read was answered meanwhile")) from error
            raise PoolExhausted(self.pool_size, waited) from error
        finally:
            DATABASE_POOL_WAIT.observe(budget.spent())
        self._gauges.report()
        try:
            with connection, self._backstop.watch(connection, budget):
                left = budget.remaining()
                if self._postgres and left < self.timeout - NARROWING_SECONDS:
                    with suppress_instrumentation():  # no span: the set-up of the query, not a query
                        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}")
                yield connection
        finally:
            self._gauges.report()

    def close(self):
        self._backstop.stop()
        if self._connector:
            self._connector.close()
        self.engine.dispose()
