"""What the database adds to the telemetry the SQLAlchemy instrumentation makes: the query
span's name and error.type by the semantic conventions, and the pool's gauges."""

import functools
import re
import threading

from opentelemetry.semconv.attributes.db_attributes import (
    DB_COLLECTION_NAME,
    DB_OPERATION_NAME,
    DB_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from sqlalchemy import event

from diespec.database.deadline import current_budget
from diespec.database.failures import classify
from diespec.metrics import DATABASE_POOL_AVAILABLE, DATABASE_POOL_SIZE


def name_the_spans(engine):
    """The query spans of `engine` named and labelled by the conventions, on that engine alone."""
    # After the instrumentation's own listener, which started the query's span.
    event.listen(engine, "before_cursor_execute", _name_the_query)
    # Before the instrumentation's, which ends the span.
    listen_first(engine, "handle_error", _name_the_error)


def listen_first(engine, identifier, listener):
    """`listener` for `engine`'s `identifier` event (a dialect-level one, such as handle_error),
    ahead of those already listening: the instrumentation's, added as the engine was made.
    SQLAlchemy ignores `insert=True` for an engine's events and runs them in the order they
    came, so the others leave and listen again after it."""
    others = list(getattr(engine.dialect.dispatch, identifier))
    for other in others:
        event.remove(engine, identifier, other)
    event.listen(engine, identifier, listener)
    for other in others:
        event.listen(engine, identifier, other)


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


def _name_the_error(context):
    """`error.type` on a failed query's span, and PostgreSQL's SQLSTATE as
    `db.response.status_code`, as the semantic conventions ask: the instrumentation sets the
    status only. The failure classified as the read will classify it (the same exception, the
    same budget). Runs before the instrumentation's own handler, which ends the span, and reads
    the span where that handler finds it (no public way to it)."""
    span = getattr(context.execution_context, "_otel_span", None)
    if span is None or not span.is_recording():
        return
    failure = classify(context.sqlalchemy_exception or context.original_exception, current_budget())
    span.set_attribute(ERROR_TYPE, failure.error_type)
    if failure.sqlstate:
        span.set_attribute(DB_RESPONSE_STATUS_CODE, failure.sqlstate)


class PoolGauges:
    """database_connection_pool_size and database_connection_pool_available of one pool, read
    from the pool's state, never counted from events."""

    def __init__(self, pool):
        self._pool = pool
        self.size = pool.size()
        self._lock = threading.Lock()
        DATABASE_POOL_SIZE.set(self.size)
        self.report()

    def report(self):
        """The available connections now; under the lock, so that the last value written is
        the last state read."""
        with self._lock:
            DATABASE_POOL_AVAILABLE.set(self.size - self._pool.checkedout())
