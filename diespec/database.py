"""The die service's database: its one table, every statement run on it, the engine with its
pool, and `Database`, through which a worker reads, for SQLite (DATABASE_URL unset) and
PostgreSQL alike.

SQLAlchemy Core gives both engines one API and a pool; its OpenTelemetry instrumentation
makes each query a CLIENT span (docs/telemetry.md, "The database"). The statements are plain
SQL that both engines run as they are, so the query text in a span is the text below, its
values as placeholders.
"""

import contextvars
import functools
import logging
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoResultYet
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.semconv.attributes.db_attributes import DB_COLLECTION_NAME, DB_OPERATION_NAME
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

from diespec.metrics import DATABASE_POOL_AVAILABLE, DATABASE_POOL_SIZE, DATABASE_POOL_TIMEOUTS, DATABASE_POOL_WAIT
from ops.settings import DATABASE_BACKSTOP_GRACE_SECONDS

logger = logging.getLogger(__name__)

# `faces` is a JSON array of integers, in order, with repeats ('[1, 2, 3, 4, 5, 6]'): text on
# both engines, so that one INSERT works on either. The table checks nothing more: the die
# service checks every row it reads (diespec/specs.py).
CREATE_TABLE = text(
    "CREATE TABLE IF NOT EXISTS die_specifications ("
    "identifier VARCHAR(64) PRIMARY KEY, faces TEXT, error_rate DOUBLE PRECISION)"
)
UPSERT = text(
    "INSERT INTO die_specifications (identifier, faces, error_rate) VALUES (:identifier, :faces, :error_rate) "
    "ON CONFLICT (identifier) DO UPDATE SET faces = excluded.faces, error_rate = excluded.error_rate"
)
SELECT_ONE = "SELECT identifier, faces, error_rate FROM die_specifications WHERE identifier = :identifier"
SELECT_IDENTIFIERS = "SELECT identifier FROM die_specifications"
# A round trip that reads nothing: /readyz asks it.
PING = "SELECT 1"
# Seeding takes this lock first (PostgreSQL), so that die services starting together seed one
# after the other: CREATE TABLE IF NOT EXISTS alone races in the catalogue. Released at commit.
SEED_LOCK = text("SELECT pg_advisory_xact_lock(7306470931)")


@functools.cache
def statement(query):
    """`query` as SQLAlchemy runs it, made once per text: a new one for every query would cost
    SQLAlchemy its cache key again, some 25 µs a query (the queries and their fault variants are
    a handful)."""
    return text(query)


def with_delay(query):
    """`query` made to wait :delay_seconds inside the database before it reads (a delay fault).
    The one-row subquery comes first, so both engines run it even when no row matches. Its alias
    names no fault: a lab's slow query is read in its span's time and statement, as any other."""
    waiting = "FROM (SELECT pg_sleep(:delay_seconds) AS waited) AS pause CROSS JOIN die_specifications"
    return query.replace("FROM die_specifications", waiting)


def failing(query):
    """`query` reading a table that does not exist, so the database itself fails it (an error fault)."""
    return query.replace("FROM die_specifications", 'FROM "fault.database"')


# libpq waits at least this long for a server that accepts a connection and then says nothing
# (a frozen one); a read never does: Connector gives up when the read's budget ends.
CONNECT_TIMEOUT_SECONDS = 2
# The server-side statement timeout of a connection is the whole budget; when the wait for a
# connection (or connecting) took longer than this, the query is given only what is left.
NARROWING_SECONDS = 0.05


class DatabaseUnavailable(Exception):
    """The database could not answer a read: unreachable, refusing, timed out, or failing it.
    `kind` says which in words that name no host or user (for /readyz); `reason` is the
    driver's first line (for the log), `error_type` what a span's error.type says."""

    def __init__(self, kind, reason, error_type):
        super().__init__(reason)
        self.kind, self.reason, self.error_type = kind, reason, error_type


class PoolExhausted(Exception):
    """Every connection of the pool stayed in use for the whole budget while other reads were
    answered: the database is fine, the worker has more requests than connections."""

    def __init__(self, pool_size, waited_seconds):
        super().__init__(f"no connection of {pool_size} came free within {waited_seconds:.2f} s")
        self.pool_size, self.waited_seconds = pool_size, waited_seconds


class Budget:
    """The time one read may take: waiting for a connection, connecting and the query together."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.started = time.monotonic()
        self.deadline = self.started + seconds

    def remaining(self):
        return self.deadline - time.monotonic()

    def spent(self):
        return time.monotonic() - self.started


# The budget of the read under way on this thread: connecting (Connector), SQLite's pg_sleep
# and the span's error.type (_name_the_error) read it.
_current_budget = contextvars.ContextVar("database_read_budget", default=None)


def engine_options(url, timeout_seconds):
    """(url, connect_args) that make every wait end within `timeout_seconds`."""
    url = make_url(url)
    if url.get_backend_name() == "postgresql":
        # The server cancels a query that runs longer; a frozen server is the Backstop's.
        options = f"-c statement_timeout={round(timeout_seconds * 1000)}"
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "options": options}
        return url.set(drivername="postgresql+psycopg"), connect_args
    return url, {"timeout": timeout_seconds}  # SQLite: how long to wait for another writer's lock


# sqlalchemy.create_engine, not `from sqlalchemy import create_engine`: the OpenTelemetry
# instrumentor swaps the module's function, after this module is imported.


def create_pooled_engine(url, pool_size, timeout_seconds):
    """The engine a worker queries through: a pool of `pool_size` connections, none beyond it,
    and `timeout_seconds` to wait for one."""
    url, connect_args = engine_options(url, timeout_seconds)
    engine = sqlalchemy.create_engine(
        url, poolclass=QueuePool, pool_size=pool_size, max_overflow=0, pool_timeout=timeout_seconds,
        connect_args=connect_args,
    )
    _prepare(engine)
    return engine


def create_unpooled_engine(url, timeout_seconds):
    """An engine for one piece of work at start-up (seeding), keeping no connection after it."""
    url, connect_args = engine_options(url, timeout_seconds)
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    _prepare(engine)
    return engine


def create_sqlite_folder(url):
    """The folder of a SQLite file, made if missing (SQLite makes the file, not its folder)."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def describe(engine):
    """What the log says of a database: never its password."""
    url = engine.url
    return {"engine": engine.dialect.name, "host": url.host or "", "database": url.database or ""}


def driver_error(error):
    """The driver's own exception (psycopg's, sqlite3's) under SQLAlchemy's wrapper, else `error`."""
    return getattr(error, "orig", None) or error


def reason(error):
    """What went wrong, in the driver's first line (it names no password), without SQLAlchemy's additions."""
    cause = driver_error(error)
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


# SQLSTATEs: 57014 query_canceled (the statement timeout), 28000/28P01 authentication, 3D000 no such database.
_KINDS_BY_SQLSTATE = {"57014": "timed out", "28000": "authentication failed", "28P01": "authentication failed",
                      "3D000": "no such database"}
# The driver's words when there is no SQLSTATE (connecting), in lower case.
_KINDS_BY_WORDS = {"authentication failed": "authentication failed", "connection refused": "refused",
                   "does not exist": "no such database", "unable to open database file": "cannot open the file",
                   "timeout expired": "timed out"}


def failure_kind(error):
    """What kind of failure `error` is, in words that name no host, user or value: timed out,
    refused, authentication failed, no such database, cannot open the file, or failed. Any
    failure once the read's budget has run out is a timeout: that is what ended it."""
    budget = _current_budget.get()
    if budget is not None and budget.remaining() <= 0:
        return "timed out"
    cause = driver_error(error)
    kind = _KINDS_BY_SQLSTATE.get(getattr(cause, "sqlstate", None))
    if kind:
        return kind
    words = str(cause).lower()
    return next((kind for phrase, kind in _KINDS_BY_WORDS.items() if phrase in words), "failed")


def error_type(error):
    """error.type of a failed read, on its span and in the log: `timeout` (the semantic
    conventions' own value) for any timeout, else the driver's exception class."""
    return "timeout" if failure_kind(error) == "timed out" else type(driver_error(error)).__qualname__


def _prepare(engine):
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _add_sqlite_sleep)
    # After the instrumentation's own listener, which started the query's span: a name by the
    # semantic conventions on both engines (it would say `SELECT /path/to/dice.sqlite3`).
    event.listen(engine, "before_cursor_execute", _name_the_query)
    # On every engine, where SQLAlchemy runs it before any one engine's listeners (`insert`
    # is not kept for this event): before the instrumentation's, which ends the span.
    if not event.contains(Engine, "handle_error", _name_the_error):
        event.listen(Engine, "handle_error", _name_the_error)


# The table a statement of ours reads or writes: the first after FROM, JOIN, INTO or TABLE.
_TABLE = re.compile(r'\b(?:FROM|JOIN|INTO|TABLE(?:\s+IF\s+NOT\s+EXISTS)?)\s+"?([A-Za-z_][\w.]*)"?', re.IGNORECASE)


@functools.cache
def operation_and_table(sql):
    """("SELECT", "die_specifications") of our own SQL (the table "" when it reads none): what
    the semantic conventions name a query span by, `{db.operation.name} {db.collection.name}`."""
    operation = sql.split(maxsplit=1)[0].upper() if sql.strip() else ""
    table = _TABLE.search(sql)
    return operation, table[1] if table else ""


def _name_the_query(conn, cursor, sql, parameters, context, executemany):
    """The query's span named and labelled as the conventions say (the instrumentation puts the
    database's name, or SQLite's path, in both the name and `db.operation.name`). Reads the span
    where the instrumentation keeps it, as _name_the_error does."""
    span = getattr(context, "_otel_span", None)
    if span is None or not span.is_recording():
        return
    operation, table = operation_and_table(sql)
    span.update_name(f"{operation} {table}".strip())
    span.set_attribute(DB_OPERATION_NAME, operation)
    if table:
        span.set_attribute(DB_COLLECTION_NAME, table)


def _sqlite_sleep(seconds):
    """PostgreSQL's pg_sleep(seconds), for SQLite, which has none: a delay fault's query then
    reads the same on both. Past the read's budget it fails, as a statement timeout would."""
    budget = _current_budget.get()
    allowed = seconds if budget is None else max(budget.remaining(), 0)
    time.sleep(min(seconds, allowed))
    if seconds > allowed:
        raise TimeoutError("canceling statement due to statement timeout")
    return ""  # PostgreSQL's void is not NULL either


def _add_sqlite_sleep(dbapi_connection, connection_record):
    dbapi_connection.create_function("pg_sleep", 1, _sqlite_sleep)


def _name_the_error(context):
    """`error.type` on a failed query's span, as the semantic conventions ask: the
    instrumentation sets the status only. Runs before its own handler, which ends the span,
    and reads the span where that handler finds it (no public way to it)."""
    span = getattr(context.execution_context, "_otel_span", None)
    if span is not None and span.is_recording():
        span.set_attribute(ERROR_TYPE, error_type(context.original_exception))


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
        self._pool_lock = threading.Lock()
        self._answered_at = 0.0  # when a read last got its rows (monotonic)
        DATABASE_POOL_SIZE.set(self.pool_size)
        self._report_pool()

    @property
    def engine_name(self):
        return self.engine.dialect.name

    def read(self, query, parameters=None):
        """The rows of `query` (a statement's text), or DatabaseUnavailable, or PoolExhausted."""
        budget = Budget(self.timeout)
        token = _current_budget.set(budget)
        try:
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
        finally:
            _current_budget.reset(token)

    @staticmethod
    def _unavailable(error, budget):
        """The DatabaseUnavailable of a failed read: a connection lost once the budget was spent
        was the Backstop's cut, and is said so, not as the driver's "connection closed"."""
        cut = budget.remaining() <= 0 and getattr(error, "connection_invalidated", False)
        said = f"no answer within {budget.seconds:g} s (DATABASE_TIMEOUT_SECONDS): the connection was cut"
        return DatabaseUnavailable(failure_kind(error), said if cut else reason(error), error_type(error))

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
                raise DatabaseUnavailable(
                    "timed out", f"no connection came free within {waited:.2f} s and no read was answered meanwhile",
                    "timeout") from error
            raise PoolExhausted(self.pool_size, waited) from error
        finally:
            DATABASE_POOL_WAIT.observe(budget.spent())
        self._report_pool()
        try:
            with connection, self._backstop.watch(connection, budget.deadline):
                left = budget.remaining()
                if self._postgres and left < self.timeout - NARROWING_SECONDS:
                    with suppress_instrumentation():  # no span: the set-up of the query, not a query
                        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}")
                yield connection
        finally:
            self._report_pool()

    def _report_pool(self):
        """database_connection_pool_available from the pool's state now; under the lock, so
        that the last value written is the last state read."""
        with self._pool_lock:
            DATABASE_POOL_AVAILABLE.set(self.pool_size - self.engine.pool.checkedout())

    def close(self):
        self._backstop.stop()
        if self._connector:
            self._connector.close()
        self.engine.dispose()


class Connector:
    """Makes each new PostgreSQL connection within what is left of the read's budget.

    libpq waits at least CONNECT_TIMEOUT_SECONDS for a server that accepts a connection and
    then says nothing (a frozen one). A read may not wait that long: the connection is made on
    a thread of its own and given up when the budget ends; libpq then finishes on that thread,
    and a connection it makes after all is closed. Work at start-up (no read under way) connects
    as usual."""

    def __init__(self, threads):
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="database-connect")

    def __call__(self, dialect, connection_record, cargs, cparams):
        budget = _current_budget.get()
        if budget is None:
            return None  # SQLAlchemy connects as usual
        attempt = self._threads.submit(dialect.connect, *cargs, **cparams)
        try:
            return attempt.result(timeout=max(budget.remaining(), 0))
        except NoResultYet:
            if not attempt.cancel():
                attempt.add_done_callback(_close_if_made)
            raise psycopg.errors.ConnectionTimeout(
                f"no connection within {budget.seconds:g} s (DATABASE_TIMEOUT_SECONDS)"
            ) from None

    def close(self):
        self._threads.shutdown(wait=False, cancel_futures=True)


def _close_if_made(attempt):
    if not attempt.cancelled() and attempt.exception() is None:
        attempt.result().close()


class Backstop:
    """Cuts the connection under a PostgreSQL query that outlives its read's budget by
    DATABASE_BACKSTOP_GRACE_SECONDS (ops/settings.py). The server's statement timeout ends every
    slow query first, its way (an error, the connection kept); but a frozen server (stopped
    with SIGSTOP, a paused container) never answers at all, and psycopg has no client-side
    query timeout. Shutting the socket down makes the query fail at once, which
    SQLAlchemy takes for a lost connection (it discards it, and the pool connects afresh); the
    read, its budget spent, reports it as the timeout it is.

    Each watch holds a duplicate of the connection's socket, so a number the system reuses
    once libpq closes its own can never point the backstop at another socket. One thread per
    worker process, started with the first watch and stopped with `stop`."""

    def __init__(self):
        self._watches = set()
        self._changed = threading.Condition()
        self._thread = None
        self._wakes_at = None  # the thread's next deadline, None when it waits for a watch
        self._stopped = False

    @contextmanager
    def watch(self, connection, deadline):
        pgconn = getattr(connection.connection.dbapi_connection, "pgconn", None)  # psycopg's; SQLite has no socket
        if pgconn is None:
            yield
            return
        watch = _Watch(os.dup(pgconn.socket), deadline + DATABASE_BACKSTOP_GRACE_SECONDS)
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="database-backstop", daemon=True)
                self._thread.start()
            self._watches.add(watch)
            if self._wakes_at is None or watch.deadline < self._wakes_at:
                self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._watches.discard(watch)
            os.close(watch.fd)  # after it left the watches: the thread cuts only under the lock

    def _run(self):
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                for watch in [watch for watch in self._watches if watch.deadline <= now]:
                    self._watches.remove(watch)
                    watch.cut()
                self._wakes_at = min((watch.deadline for watch in self._watches), default=None)
                self._changed.wait(None if self._wakes_at is None else self._wakes_at - now)

    def stop(self):
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()


class _Watch:
    def __init__(self, fd, deadline):
        self.fd, self.deadline = fd, deadline

    def cut(self):
        sock = socket.socket(fileno=self.fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side
        finally:
            sock.detach()  # the fd stays the watch's, closed by its owner
