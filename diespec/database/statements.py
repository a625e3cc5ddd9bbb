"""Every statement the die service runs on its one table, and the rewrites that make the
database itself wait or fail a query (the `fault.database` faults).

The statements are plain SQL that SQLite and PostgreSQL both run as written, so the query text
in a span is the text below, its values as placeholders."""

import functools

from sqlalchemy import text

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
# What /readyz asks: a round trip that reads the table (a missing one is as unready as a missing
# database) and no more than one identifier of it.
PING = "SELECT identifier FROM die_specifications LIMIT 1"
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
    The one-row subquery comes first, so both engines run it even when no row matches."""
    waiting = "FROM (SELECT pg_sleep(:delay_seconds) AS waited) AS pause CROSS JOIN die_specifications"
    return query.replace("FROM die_specifications", waiting)


def failing(query):
    """`query` reading a table that does not exist, so the database itself fails it (an error fault)."""
    return query.replace("FROM die_specifications", 'FROM "fault.database"')
