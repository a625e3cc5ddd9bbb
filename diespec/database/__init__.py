"""The die service's database, for SQLite (DATABASE_URL unset) and PostgreSQL alike, one room
a concern:

- statements.py: the one table, every statement run on it, and the fault rewrites;
- engine.py: the engines, their options and SQLite's shims;
- failures.py: how a read failed, in one classification;
- deadline.py: each read's budget, and what ends the waits the database would let run on;
- telemetry.py: the query span's name and error.type, the pool's gauges;
- read.py: `Database`, through which a worker reads.

What the rest of the project uses is importable from here."""

from diespec.database.engine import (
    create_pooled_engine,
    create_seeding_engine,
    create_sqlite_folder,
    create_unpooled_engine,
    describe,
)
from diespec.database.failures import DatabaseBusy, DatabaseUnavailable, driver_error, reason
from diespec.database.read import Database
from diespec.database.statements import (
    CREATE_TABLE,
    PING,
    SEED_LOCK,
    SELECT_IDENTIFIERS,
    SELECT_ONE,
    UPSERT,
    failing,
    with_delay,
)

__all__ = [
    "CREATE_TABLE", "PING", "SEED_LOCK", "SELECT_IDENTIFIERS", "SELECT_ONE", "UPSERT",
    "Database", "DatabaseBusy", "DatabaseUnavailable",
    "create_pooled_engine", "create_seeding_engine", "create_sqlite_folder", "create_unpooled_engine", "describe",
    "driver_error", "failing", "reason", "with_delay",
]
