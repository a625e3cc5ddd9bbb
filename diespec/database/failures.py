"""How a read failed, classified once: the log line, /readyz, the query span's error.type and
the answer all say what `classify` says. PostgreSQL's SQLSTATE where it gives one (psycopg gives
none when connecting fails: then libpq's words), SQLite's result code (and, for its generic
SQLITE_ERROR, the first words of its message), and the deadline machinery's own word when it
ended the query itself."""

import re
import sqlite3
from dataclasses import dataclass

import psycopg

# The kinds, in words that name no host, user or value.
TIMED_OUT = "timed out"
REFUSED = "refused"
SHUTTING_DOWN = "shutting down"
STARTING_UP = "starting up"
CONNECTION_LOST = "connection lost"
AUTHENTICATION_FAILED = "authentication failed"
NO_SUCH_DATABASE = "no such database"
NO_SUCH_TABLE = "no such table"
NO_SUCH_COLUMN = "no such column"
CANNOT_OPEN_THE_FILE = "cannot open the file"
FAILED = "failed"

_BY_SQLSTATE = {
    "57014": TIMED_OUT,  # query_canceled: the statement timeout
    "55P03": TIMED_OUT,  # lock_not_available: the lock timeout
    "57P01": SHUTTING_DOWN,  # admin_shutdown
    "57P02": SHUTTING_DOWN,  # crash_shutdown
    "57P03": STARTING_UP,  # cannot_connect_now
    "28000": AUTHENTICATION_FAILED,
    "28P01": AUTHENTICATION_FAILED,
    "3D000": NO_SUCH_DATABASE,
    "42P01": NO_SUCH_TABLE,  # undefined_table
    "42703": NO_SUCH_COLUMN,  # undefined_column
}
_CONNECTION_EXCEPTION = "08"  # the SQLSTATE class of a connection lost or broken
# libpq's words when connecting fails, where psycopg has no SQLSTATE to give.
_BY_LIBPQ_WORDS = [
    (re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in [
        (r"connection refused", REFUSED),
        (r"timeout expired", TIMED_OUT),
        (r"authentication failed", AUTHENTICATION_FAILED),
        (r'database ".*" does not exist', NO_SUCH_DATABASE),
        (r"the database system is shutting down", SHUTTING_DOWN),
        (r"the database system is (starting up|not yet accepting connections)", STARTING_UP),
        (r"server closed the connection unexpectedly", CONNECTION_LOST),
    ]
]
# SQLite's result codes (Python's sqlite3 gives their names), and its generic error's words.
_BY_SQLITE_CODE = {
    "SQLITE_BUSY": TIMED_OUT,  # another writer held the lock for all the time the read had
    "SQLITE_LOCKED": TIMED_OUT,
    "SQLITE_INTERRUPT": TIMED_OUT,
    "SQLITE_CANTOPEN": CANNOT_OPEN_THE_FILE,
}
_BY_SQLITE_WORDS = {"no such table": NO_SUCH_TABLE, "no such column": NO_SUCH_COLUMN}


@dataclass(frozen=True)
class Failure:
    """`kind` for /readyz, the answer and the log; `error_type` what the query span's
    error.type says (`timeout`, the semantic conventions' own value, for any timeout, else the
    driver's exception class); `reason` the driver's first line, for the log (it names no
    password); `sqlstate` PostgreSQL's code, when it gave one."""

    kind: str
    error_type: str
    reason: str
    sqlstate: str | None = None

    @property
    def timed_out(self):
        return self.kind == TIMED_OUT


def timeout(reason):
    """The Failure of a read that ran out of time before any query did."""
    return Failure(TIMED_OUT, "timeout", reason)


def classify(error, budget=None):
    """The Failure that `error` (SQLAlchemy's, or the driver's own) is, in the read of `budget`."""
    if budget is not None and budget.ended_by:
        return timeout(f"no answer within {budget.seconds:g} s (DATABASE_TIMEOUT_SECONDS): {budget.ended_by}")
    cause = driver_error(error)
    sqlstate = getattr(cause, "sqlstate", None)
    kind = _kind_of(cause, sqlstate) or (CONNECTION_LOST if getattr(error, "connection_invalidated", False) else FAILED)
    error_type = "timeout" if kind == TIMED_OUT else type(cause).__qualname__
    return Failure(kind, error_type, reason(cause), sqlstate)


def _kind_of(cause, sqlstate):
    if isinstance(cause, psycopg.Error):
        if sqlstate and sqlstate.startswith(_CONNECTION_EXCEPTION):
            return CONNECTION_LOST
        if sqlstate:
            return _BY_SQLSTATE.get(sqlstate)
        if isinstance(cause, psycopg.errors.ConnectionTimeout):
            return TIMED_OUT
        return next((kind for words, kind in _BY_LIBPQ_WORDS if words.search(str(cause))), None)
    if isinstance(cause, sqlite3.Error):
        words = str(cause)
        return _BY_SQLITE_CODE.get(getattr(cause, "sqlite_errorname", None)) or next(
            (kind for start, kind in _BY_SQLITE_WORDS.items() if words.startswith(start)), None)
    return None


class DatabaseUnavailable(Exception):
    """The database could not answer a read: unreachable, refusing, timed out, or failing it."""

    def __init__(self, failure):
        super().__init__(failure.reason)
        self.failure = failure
        self.kind, self.reason, self.error_type = failure.kind, failure.reason, failure.error_type


class DatabaseBusy(Exception):
    """A read ran out of time waiting for a pooled connection (none came free within its budget,
    or one so late that its query was left too little), while other reads were answered: the
    database is fine, the worker has more requests than connections (diespec/database/read.py)."""

    def __init__(self, pool_size, waited_seconds):
        super().__init__(f"waited {waited_seconds:.2f} s of its budget for one of {pool_size} connections")
        self.pool_size, self.waited_seconds = pool_size, waited_seconds


def driver_error(error):
    """The driver's own exception (psycopg's, sqlite3's) under SQLAlchemy's wrapper, else `error`."""
    return getattr(error, "orig", None) or error


def reason(error):
    """What went wrong, in the driver's first line (it names no password), without SQLAlchemy's additions."""
    cause = driver_error(error)
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
