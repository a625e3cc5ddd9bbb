"""The die service's WSGI app: `gunicorn ... 'diespec.app:create_app()'`.

The database is seeded before this runs, once per deployment, by gunicorn's master
(diespec/seed.py); each worker only reads it, through a pool of its own."""

import logging
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

from diespec.database import Database, create_pooled_engine, describe
from diespec.metrics import SPECIFICATIONS_LOADED
from diespec.resources import Dice, ServiceInfo
from diespec.seed import load_specifications_or_exit
from diespec.store import DieSpecificationStore
from ops import errors, faults
from ops.falcon_app import create_service_app
from ops.faults import FaultInjector
from ops.services import DIE_SERVICE
from ops.startup import settings_or_exit
from ops.telemetry import setup_telemetry

OPENAPI_DOCUMENT = Path(__file__).parent / "openapi.json"

logger = logging.getLogger(__name__)


def create_app():
    """gunicorn's entry point: telemetry, then the app over the database of DATABASE_URL."""
    setup_telemetry(DIE_SERVICE.name, FalconInstrumentor(), SQLAlchemyInstrumentor())
    config = settings_or_exit(*DIE_SERVICE.settings)
    pool_size, timeout = config["DATABASE_POOL_SIZE"], config["DATABASE_TIMEOUT_SECONDS"]
    engine = create_pooled_engine(config["DATABASE_URL"], pool_size, timeout)
    logger.info("Database connection pool established", extra={**describe(engine), "pool_size": pool_size})
    seed_order = list(load_specifications_or_exit(config["DIE_SPECIFICATIONS_FILE"]))
    store = DieSpecificationStore(Database(engine, timeout), seed_order)
    # The gauge from the start, before the first list request sets it again.
    loaded = store.count_quietly()
    SPECIFICATIONS_LOADED.set(len(seed_order) if loaded is None else loaded)
    enabled = config["FAULT_INJECTION"]
    return build_app(
        store,
        FaultInjector(DIE_SERVICE.otel_name(), enabled=enabled),
        FaultInjector(faults.DATABASE, enabled=enabled, parse=faults.parse_database_fault,
                      expected=faults.DATABASE_EXPECTED),
    )


def build_app(store, fault_injector, database_faults):
    """The app over `store` (diespec/store.py), reading nothing from the environment;
    `database_faults` takes the `fault.database` entries, which the store's queries apply."""

    def readiness_check():
        available, kind = store.availability()
        if available:
            return True, {"database": store.engine_name}
        # The kind of failure alone (refused, timed out, ...): the driver's words name host and user.
        return False, {"message": errors.DATABASE_UNAVAILABLE.body(failure=kind)["message"]}

    app = create_service_app(readiness_check, OPENAPI_DOCUMENT, fault_injector)
    app.add_route("/", ServiceInfo(store))
    app.add_route("/dice", Dice(store, database_faults))
    return app
