"""Seeding: the table created if missing and die_specifications.json upserted into it, once per
deployment. gunicorn's master runs `seed_from_settings` before any worker boots, and again on
SIGHUP (ops/gunicorn.conf.py): editing the file and sending a HUP is how a die is added
from the file; a die inserted with SQL needs neither (it is read at its next request)."""

import logging

from opentelemetry.instrumentation.utils import suppress_instrumentation

from diespec.database import (
    CREATE_TABLE,
    SEED_LOCK,
    UPSERT,
    create_seeding_engine,
    create_sqlite_folder,
    describe,
    reason,
)
from diespec.specs import SpecificationError, load_specifications
from ops import settings
from ops.startup import refuse_to_start

logger = logging.getLogger(__name__)


def seed(engine, specifications, source):
    """Creates the table if missing and upserts `specifications` ({identifier: DieSpecification}):
    a die of the file replaces its row, other rows stay as they are. Makes no span, wherever
    it runs: start-up is no request's trace. Several die services starting at once seed one
    after the other (PostgreSQL's advisory lock; SQLite's writers wait for each other), each
    waiting on seeding's own clock (create_seeding_engine), not a read's budget."""
    with suppress_instrumentation(), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(SEED_LOCK)
        connection.execute(CREATE_TABLE)
        if specifications:
            connection.execute(UPSERT, [specification.to_row() for specification in specifications.values()])
    logger.info("Die specifications seeded", extra={"count": len(specifications), "source": str(source)})


def seed_from_settings():
    """The seeding of a deployment, from DIE_SPECIFICATIONS_FILE into DATABASE_URL. A bad file or
    a database that cannot be reached stops the start with one line (ops/startup.py)."""
    path = settings.read("DIE_SPECIFICATIONS_FILE")
    url = settings.read("DATABASE_URL")
    specifications = load_specifications_or_exit(path)
    logger.info("Die specifications loaded", extra={"file": str(path), "identifiers": list(specifications)})
    create_sqlite_folder(url)
    engine = create_seeding_engine(url)
    try:
        seed(engine, specifications, path)
    except Exception as error:  # noqa: BLE001 (any failure to reach the database stops the start, said once)
        refuse_to_start(f"the database cannot be seeded: {reason(error)}", **describe(engine))
    finally:
        engine.dispose()


def load_specifications_or_exit(path):
    """{identifier: DieSpecification} of the file at `path`; a bad file stops the start."""
    try:
        return load_specifications(path)
    except SpecificationError as error:
        refuse_to_start(error, file=str(path))
