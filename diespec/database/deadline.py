"""The deadline machinery: each read's one budget, every wait inside it given what is left of
it, and what ends a wait that the database would let run on (connecting to a server that says
nothing, a query on a frozen one, a long SQLite statement)."""

import contextvars
import functools
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoResultYet
from contextlib import contextmanager

import psycopg
from opentelemetry.instrumentation.utils import suppress_instrumentation

from ops.settings import DATABASE_BACKSTOP_GRACE_SECONDS

# A query is given what is left of its read's budget once the read has spent more than this
# before it (waiting for a place in the pool, connecting); under it, the whole budget it has anyway.
NARROWING_SECONDS = 0.05
# How many steps of SQLite's VM run between two looks at the clock: a look costs a Python call,
# a step a fraction of a microsecond.
SQLITE_STEPS_BETWEEN_CHECKS = 1000


class Budget:
    """The time one read may take: waiting for a connection, connecting and the query together."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.pool_wait = 0.0  # seconds spent waiting for a place in the pool
        self.ended_by = None  # how the deadline machinery ended the read's query, when it did

    def end_query(self, how):
        """The read's query ended by the deadline machinery itself, `how` ("the connection was
        cut"): it failed as a timeout, whatever the driver then says."""
        self.ended_by = how

    def remaining(self):
        return self.deadline - time.monotonic()

    def spent(self):
        return time.monotonic() - self.started


# The budget of the read under way on this thread: connecting (Connector), SQLite's pg_sleep
# and the failure's classification read it.
_current_budget = contextvars.ContextVar("database_read_budget", default=None)


def current_budget():
    """The budget of the read under way on this thread, or None (work at start-up)."""
    return _current_budget.get()


@contextmanager
def spending(budget):
    """`budget` is the current one while the read runs."""
    token = _current_budget.set(budget)
    try:
        yield budget
    finally:
        _current_budget.reset(token)


@contextmanager
def query_within(connection, budget):
    """The query on `connection` given what is left of `budget`: its statement timeout on
    PostgreSQL, its busy timeout (the wait for another writer's lock) on SQLite, each the whole
    budget on the connection (engine.py) and narrowed to what is left once the read has spent
    more than NARROWING_SECONDS before its query (a statement saved in the common case). On
    SQLite, its VM also stops the query at the deadline (a progress handler: SQLite's own way to
    interrupt a statement)."""
    left = budget.remaining()
    narrowed = left < budget.seconds - NARROWING_SECONDS
    if connection.dialect.name == "postgresql":
        if narrowed:
            with suppress_instrumentation():  # no span: the set-up of the query, not a query
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}")
        yield  # SET LOCAL ends with the transaction
        return
    sqlite = connection.connection.dbapi_connection  # sqlite3's own: no statement of SQLAlchemy's, no span
    if narrowed:
        sqlite.execute(f"PRAGMA busy_timeout = {max(0, int(left * 1000))}")
    sqlite.set_progress_handler(functools.partial(_stop_at_the_deadline, budget), SQLITE_STEPS_BETWEEN_CHECKS)
    try:
        yield
    finally:
        sqlite.set_progress_handler(None, 0)
        if narrowed:  # the connection's own again, for the next read
            sqlite.execute(f"PRAGMA busy_timeout = {round(budget.seconds * 1000)}")


def _stop_at_the_deadline(budget):
    """SQLite's progress handler: non-zero stops the query (SQLITE_INTERRUPT)."""
    if budget.remaining() > 0:
        return 0
    budget.end_query("the query was stopped")
    return 1


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
        budget = current_budget()
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
    query timeout. Shutting the socket down makes the query fail at once, which SQLAlchemy
    takes for a lost connection: it discards that one (keep_the_pool_on_a_cut keeps the others),
    and the read reports it as the timeout it is.

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
    def watch(self, connection, budget):
        pgconn = getattr(connection.connection.dbapi_connection, "pgconn", None)  # psycopg's; SQLite has no socket
        if pgconn is None:
            yield
            return
        watch = _Watch(os.dup(pgconn.socket), budget)
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
    def __init__(self, fd, budget):
        self.fd, self.budget = fd, budget
        self.deadline = budget.deadline + DATABASE_BACKSTOP_GRACE_SECONDS

    def cut(self):
        self.budget.end_query("the connection was cut")
        sock = socket.socket(fileno=self.fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side
        finally:
            sock.detach()  # the fd stays the watch's, closed by its owner


def keep_the_pool_on_a_cut(context):
    """handle_error of the die service's engine: a connection the Backstop cut is the one lost.
    SQLAlchemy takes the cut for a disconnect, and a disconnect for the server's, dropping every
    pooled connection as old: one late cancel on an overloaded server would make the whole
    pool connect again at once."""
    budget = current_budget()
    if context.is_disconnect and budget is not None and budget.ended_by:
        context.invalidate_pool_on_disconnect = False
