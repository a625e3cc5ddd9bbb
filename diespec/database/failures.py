"""How a read failed, in words that name no host, user or value: for /readyz, the log line,
the query span's error.type and the answer."""

from diespec.database.deadline import current_budget


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
    budget = current_budget()
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
