"""The die service's database: its one table, every statement run on it, and the engine with
its pool, for SQLite (DATABASE_URL unset) and PostgreSQL alike.

SQLAlchemy Core gives both engines one API and a pool; its OpenTelemetry instrumentation
makes each query a CLIENT span (docs/telemetry.md, "The database"). The statements are plain
SQL that both engines run as they are, so the query text in a span is the text below, its
values as placeholders.
"""

import functools
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

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
PING = text("SELECT 1")


@functools.cache
def statement(query):
    """`query` as SQLAlchemy runs it, made once per text: a new one for every query would cost
    SQLAlchemy its cache key again, some 25 µs a query (the queries and their fault variants are
    a handful)."""
    return text(query)


def with_delay(query):
    """`query` made to wait :delay_seconds inside the database before it reads (a delay fault).
    The one-row subquery comes first, so both engines run it even when no row matches."""
    waiting = "FROM (SELECT pg_sleep(:delay_seconds) AS waited) AS fault CROSS JOIN die_specifications"
    return query.replace("FROM die_specifications", waiting)


def failing(query):
    """`query` reading a table that does not exist, so the database itself fails it (an error fault)."""
    return query.replace("FROM die_specifications", 'FROM "fault.database"')


# libpq's least connect timeout: it takes anything shorter for 2 s.
CONNECT_TIMEOUT_SECONDS = 2


def engine_options(url, timeout_seconds):
    """(url, connect_args) that make every wait end within `timeout_seconds`."""
    url = make_url(url)
    if url.get_backend_name() == "postgresql":
        # The server cancels a query that runs longer; a frozen server is QueryWatchdog's.
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
    _prepare(engine, timeout_seconds)
    return engine


def create_unpooled_engine(url, timeout_seconds):
    """An engine for one piece of work at start-up (seeding), keeping no connection after it."""
    url, connect_args = engine_options(url, timeout_seconds)
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    _prepare(engine, timeout_seconds)
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


def _prepare(engine, timeout_seconds):
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_sleep(timeout_seconds))
    # On every engine, where SQLAlchemy runs it before any one engine's listeners (`insert`
    # is not kept for this event): before the instrumentation's, which ends the span.
    if not event.contains(Engine, "handle_error", _name_the_error):
        event.listen(Engine, "handle_error", _name_the_error)


def _sqlite_sleep(timeout_seconds):
    """Gives SQLite, which has no sleep, PostgreSQL's pg_sleep(seconds): a delay fault's query
    then reads the same on both. Past `timeout_seconds` it fails, as a statement timeout would."""

    def pg_sleep(seconds):
        time.sleep(min(seconds, timeout_seconds))
        if seconds > timeout_seconds:
            raise TimeoutError("canceling statement due to statement timeout")
        return ""  # PostgreSQL's void is not NULL either

    def add_function(dbapi_connection, connection_record):
        dbapi_connection.create_function("pg_sleep", 1, pg_sleep)

    return add_function


def _name_the_error(context):
    """`error.type` on a failed query's span, as the semantic conventions ask: the
    instrumentation sets the status only. Runs before its own handler, which ends the span,
    and reads the span where that handler finds it (no public way to it)."""
    span = getattr(context.execution_context, "_otel_span", None)
    if span is not None and span.is_recording():
        span.set_attribute(ERROR_TYPE, type(context.original_exception).__qualname__)


@contextmanager
def connection_from(engine, watchdog):
    """A connection from the engine's pool for one query, given back after it.

    Taken without a span of its own: the instrumentation would make a `connect` span of
    every checkout, and a roll's trace holds the query alone (docs/telemetry.md)."""
    with suppress_instrumentation():
        connection = engine.connect()
    with connection, watchdog.watch(connection):
        yield connection


class QueryWatchdog:
    """Cuts the connection under a PostgreSQL query that outlives `timeout_seconds`.

    statement_timeout has the server cancel a slow query, but a frozen server (stopped with
    SIGSTOP, a paused container) never answers at all, and psycopg has no client-side query
    timeout: without this, the request's thread would wait for ever. Shutting the socket down
    makes the query fail at once, with the driver's "connection closed", which SQLAlchemy takes
    for a lost connection (it discards it, and the pool connects afresh); `watch` then raises
    it again as the timeout it was. One thread per worker process, started with the first query.
    """

    def __init__(self, timeout_seconds):
        self._timeout = timeout_seconds
        self._deadlines = {}  # socket file descriptor -> monotonic deadline
        self._changed = threading.Condition()
        self._thread = None

    @contextmanager
    def watch(self, connection):
        dbapi_connection = connection.connection.dbapi_connection
        pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg's; SQLite has no socket
        if pgconn is None:
            yield
            return
        fd = pgconn.socket
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="query-watchdog", daemon=True)
                self._thread.start()
            self._deadlines[fd] = time.monotonic() + self._timeout
            self._changed.notify()
        try:
            yield
        except SQLAlchemyError as error:
            if self._forget(fd):  # cut: say so, rather than the driver's "connection closed"
                raise sqlalchemy.exc.TimeoutError(
                    f"no answer within {self._timeout:g} s (DATABASE_TIMEOUT_SECONDS): the connection was cut"
                ) from error
            raise
        except BaseException:
            self._forget(fd)
            raise
        if self._forget(fd) and not connection.invalidated:
            connection.invalidate()  # the query had ended just as it was cut

    def _forget(self, fd):
        """Stops watching `fd`; True when the watchdog had already cut it."""
        with self._changed:
            return self._deadlines.pop(fd, None) is None

    def _run(self):
        with self._changed:
            while True:
                now = time.monotonic()
                for fd, deadline in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[fd]
                        _shut_down(fd)
                nearest = min(self._deadlines.values(), default=None)
                self._changed.wait(None if nearest is None else nearest - now)


def _shut_down(fd):
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:  # a copy: the driver still owns `fd`
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
