"""The engines the die service queries through, for SQLite (DATABASE_URL unset) and PostgreSQL
alike: their options, which bound every wait, and SQLite's shims.

SQLAlchemy Core gives both engines one API and a pool; its OpenTelemetry instrumentation makes
each query a CLIENT span (docs/telemetry.md, "The database")."""

import time
from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, QueuePool

from diespec.database.deadline import current_budget

# libpq waits at least this long for a server that accepts a connection and then says nothing
# (a frozen one); a read never does: the Connector gives up when the read's budget ends.
CONNECT_TIMEOUT_SECONDS = 2
# Seeding's own clock, not a read's budget: its statements, and its wait for another die
# service's seeding (PostgreSQL's advisory lock, SQLite's write lock), may take this long. A die
# service starting beside a slow one waits for it rather than failing to start.
SEEDING_TIMEOUT_SECONDS = 30


def engine_options(url, timeout_seconds):
    """(url, connect_args) that make every wait end within `timeout_seconds`."""
    url = make_url(url)
    if url.get_backend_name() == "postgresql":
        # The server cancels a query that runs longer; a frozen server is the Backstop's.
        options = f"-c statement_timeout={round(timeout_seconds * 1000)}"
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "options": options}
        return url.set(drivername="postgresql+psycopg"), connect_args
    # SQLite: how long to wait for another writer's lock (a read waits what is left of its budget: deadline.py)
    return url, {"timeout": timeout_seconds}


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
    _add_sqlite_shims(engine)
    return engine


def create_unpooled_engine(url, timeout_seconds):
    """An engine for one piece of work, keeping no connection after it."""
    url, connect_args = engine_options(url, timeout_seconds)
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    _add_sqlite_shims(engine)
    return engine


def create_seeding_engine(url):
    """The engine seeding runs on, at start-up: unpooled, on seeding's own clock."""
    return create_unpooled_engine(url, SEEDING_TIMEOUT_SECONDS)


def create_sqlite_folder(url):
    """The folder of a SQLite file, made if missing (SQLite makes the file, not its folder)."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def describe(engine):
    """What the log says of a database: never its password."""
    url = engine.url
    return {"engine": engine.dialect.name, "host": url.host or "", "database": url.database or ""}


def _add_sqlite_shims(engine):
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _add_sqlite_sleep)


def _sqlite_sleep(seconds):
    """PostgreSQL's pg_sleep(seconds), for SQLite, which has none: a delay fault's query then
    reads the same on both. Past the read's budget it fails, as a statement timeout would."""
    budget = current_budget()
    allowed = seconds if budget is None else max(budget.remaining(), 0)
    time.sleep(min(seconds, allowed))
    if seconds > allowed:
        budget.end_query("the query was stopped")
        raise TimeoutError("the read's budget ended")
    return ""  # PostgreSQL's void is not NULL either


def _add_sqlite_sleep(dbapi_connection, connection_record):
    dbapi_connection.create_function("pg_sleep", 1, _sqlite_sleep)
