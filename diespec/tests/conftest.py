"""A seeded database on each engine, for the in-process tests: every test that takes `store`
runs twice, on SQLite (a file in the test's folder) and on the run's real PostgreSQL."""

import falcon.testing  # noqa: F401 (before the instrumentor swaps falcon.App)
import pytest
from opentelemetry.instrumentation.falcon import FalconInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import text

from diespec.database import Database, create_pooled_engine, create_unpooled_engine
from diespec.seed import seed
from diespec.specs import parse_specifications
from diespec.store import DieSpecificationStore

SPECIFICATIONS = {
    "fair": {"faces": [1, 2, 3, 4, 5, 6], "error_rate": 0},
    "risky": {"faces": [2, 3, 4, 5, 6, 7], "error_rate": 0.1},
}
TIMEOUT_SECONDS = 1.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database: a new SQLite file, or the shared PostgreSQL without the table."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dice.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    server.psql("DROP TABLE IF EXISTS die_specifications")
    return server.url


@pytest.fixture
def run_sql(database_url):
    """run_sql(statement): what a learner does with psql or sqlite3, on the test's database."""
    engine = create_unpooled_engine(database_url, TIMEOUT_SECONDS)

    def run(statement, **parameters):
        with suppress_instrumentation(), engine.begin() as connection:
            connection.execute(text(statement), parameters)

    yield run
    engine.dispose()


@pytest.fixture
def make_store(database_url, run_sql):
    """make_store(url=database_url, seeded=True, pool_size=2, timeout=TIMEOUT_SECONDS): a
    DieSpecificationStore over a Database of its own, closed after the test."""
    databases = []

    def make(url=database_url, seeded=True, pool_size=2, timeout=TIMEOUT_SECONDS):
        if seeded:
            seed_engine = create_unpooled_engine(url, timeout)
            seed(seed_engine, parse_specifications(SPECIFICATIONS), "test")
            seed_engine.dispose()
        databases.append(Database(create_pooled_engine(url, pool_size, timeout), timeout))
        return DieSpecificationStore(databases[-1], seed_order=list(SPECIFICATIONS))

    yield make
    for database in databases:
        database.close()


@pytest.fixture
def store(make_store):
    return make_store()


@pytest.fixture
def instrumented(span_exporter):
    """Falcon and SQLAlchemy instrumented for the test, as a worker is: requests carry their
    baggage (faults), and engines made meanwhile make spans. Ask for it before `store`."""
    instrumentors = [FalconInstrumentor(), SQLAlchemyInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument()
    yield
    for instrumentor in instrumentors:
        instrumentor.uninstrument()
