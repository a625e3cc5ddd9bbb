"""The die service's WSGI app: `gunicorn ... 'diespec.app:create_app()'`."""

import logging
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor

from diespec.metrics import SPECIFICATIONS_LOADED
from diespec.resources import Dice, ServiceInfo
from diespec.specs import SpecificationError, load_specifications
from ops.falcon_app import create_service_app
from ops.faults import FaultInjector
from ops.services import DIE_SERVICE
from ops.startup import refuse_to_start, settings_or_exit
from ops.telemetry import setup_telemetry

OPENAPI_DOCUMENT = Path(__file__).parent / "openapi.json"

logger = logging.getLogger(__name__)


def create_app():
    """gunicorn's entry point: telemetry, then the app from DIE_SPECIFICATIONS_FILE."""
    setup_telemetry(DIE_SERVICE.name, FalconInstrumentor())
    config = settings_or_exit(*DIE_SERVICE.settings)
    specifications = load_specifications_or_exit(config["DIE_SPECIFICATIONS_FILE"])
    return build_app(specifications, FaultInjector(DIE_SERVICE.otel_name(), enabled=config["FAULT_INJECTION"]))


def build_app(specifications, fault_injector):
    """The app for {identifier: DieSpecification}, reading nothing from the environment."""
    SPECIFICATIONS_LOADED.set(len(specifications))
    app = create_service_app(
        readiness_check=lambda: (True, {"loaded_specifications": len(specifications)}),
        openapi_path=OPENAPI_DOCUMENT,
        fault_injector=fault_injector,
    )
    app.add_route("/", ServiceInfo(specifications))
    app.add_route("/dice", Dice(specifications))
    return app


def load_specifications_or_exit(path):
    try:
        specifications = load_specifications(path)
    except SpecificationError as error:
        refuse_to_start(error, file=str(path))
    logger.info(
        "Die specifications loaded",
        extra={"file": str(path), "identifiers": list(specifications)},
    )
    return specifications
