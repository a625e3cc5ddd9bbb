"""The die service's own metrics (the HTTP ones come from ops.metrics)."""

from prometheus_client import Counter, Gauge, Histogram

SPECIFICATIONS_REQUESTED = Counter(
    "die_specifications_requested_total",
    "Die specifications requested, by identifier ('other' for unknown ones).",
    ["identifier"],
)
LIST_REQUESTS = Counter("die_list_requests_total", "Requests for the list of dice.")
SPECIFICATIONS_LOADED = Gauge(
    "die_specifications_loaded", "Die specifications in the database, as last listed.", multiprocess_mode="livemax"
)

# The database (diespec/store.py): `query_type` is get (one die) or list (the identifiers).
QUERY_TYPES = ("get", "list")
QUERY_RESULTS = ("success", "error")
DATABASE_QUERIES = Counter(
    "database_queries_total", "Database queries, by type and result.", ["query_type", "result"]
)
for _query_type in QUERY_TYPES:  # every series from the start: a rate of 0, not "no data"
    for _result in QUERY_RESULTS:
        DATABASE_QUERIES.labels(_query_type, _result)
# A query takes a millisecond or less: the default buckets (from 5 ms) would hold them all in one.
DATABASE_QUERY_DURATION = Histogram(
    "database_query_duration_seconds",
    "Time of a database query, from asking the pool for a connection to the last row.",
    ["query_type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# Summed over the workers: every worker has a pool of its own.
DATABASE_POOL_SIZE = Gauge(
    "database_connection_pool_size", "Connections the pools may hold.", multiprocess_mode="livesum"
)
DATABASE_POOL_AVAILABLE = Gauge(
    "database_connection_pool_available",
    "Connections the pools can hand out now without waiting: size minus those in use, read from the pools.",
    multiprocess_mode="livesum",
)
# Waiting for a connection (diespec/database/read.py): the wait of every read for a place in its
# worker's pool (not connecting, not a query), and the reads answered 503 database_busy.
DATABASE_POOL_WAIT = Histogram(
    "database_connection_pool_wait_seconds",
    "Time a read waited for a place in its worker's connection pool (connecting and the query not included).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DATABASE_POOL_TIMEOUTS = Counter(
    "database_connection_pool_timeouts_total",
    "Reads answered 503 database_busy: their budget spent waiting for a pooled connection, the database healthy.",
)
