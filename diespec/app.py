"""The die service's WSGI app: `gunicorn ... 'diespec.app:create_app()'`."""

import logging
import os
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor

from diespec.metrics import SPECIFICATIONS_LOADED
from diespec.resources import Dice, ServiceInfo
from diespec.specs import SpecificationError, load_specifications
from ops.falcon_app import create_service_app
from ops.telemetry import setup_telemetry

SERVICE_NAME = "die-service"
DEFAULT_SPECIFICATIONS_FILE = Path(__file__).parent / "die_specifications.json"
# gunicorn stops (rather than restarting the worker) when a worker exits with this code.
APP_LOAD_ERROR = 4

logger = logging.getLogger(__name__)


def create_app(specifications=None):
    """Gunicorn calls it with no arguments: the specifications come from
    DIE_SPECIFICATIONS_FILE. Tests pass their own {identifier: DieSpecification}."""
    setup_telemetry(SERVICE_NAME, FalconInstrumentor())
    if specifications is None:
        specifications = load_specifications_or_exit(
            os.environ.get("DIE_SPECIFICATIONS_FILE", str(DEFAULT_SPECIFICATIONS_FILE))
        )
    SPECIFICATIONS_LOADED.set(len(specifications))

    app = create_service_app(readiness_check=lambda: (True, {"loaded_specifications": len(specifications)}))
    app.add_route("/", ServiceInfo(specifications))
    app.add_route("/dice", Dice(specifications))
    return app


def load_specifications_or_exit(path):
    try:
        specifications = load_specifications(path)
    except SpecificationError as error:
        logger.critical("Cannot start: %s", error, extra={"file": str(path)})
        raise SystemExit(APP_LOAD_ERROR) from None
    logger.info(
        "Die specifications loaded",
        extra={"file": str(path), "identifiers": list(specifications)},
    )
    return specifications
