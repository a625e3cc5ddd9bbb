"""The dice roller's WSGI app: `gunicorn ... 'roller.app:create_app()'`."""

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor

from ops.falcon_app import create_service_app
from ops.faults import FaultInjector
from ops.http_session import create_session
from ops.services import DICE_ROLLER
from ops.startup import settings_or_exit
from ops.telemetry import setup_telemetry
from roller.dice import DieRoller
from roller.die_client import DieServiceClient
from roller.resources import Roll, RollMany, ServiceInfo

OPENAPI_DOCUMENT = Path(__file__).parent / "openapi.json"


def create_app():
    """gunicorn's entry point: telemetry, then the app from the environment's settings."""
    setup_telemetry(DICE_ROLLER.name, FalconInstrumentor())
    config = settings_or_exit(*DICE_ROLLER.settings)
    die_service = DieServiceClient(
        config["DIE_SERVICE_URL"],
        config["DIE_SERVICE_TIMEOUT_SECONDS"],
        create_session(pool_size=config["GUNICORN_THREADS"]),
    )
    faults = FaultInjector(DICE_ROLLER.otel_name(), enabled=config["FAULT_INJECTION"])
    dice = DieRoller(config["ROLL_MAX_DELAY_SECONDS"], random.Random())
    # The rolls of /roll-async batches, shared by the worker's request threads: at most this
    # many rolls at once, however many batches come in; the others wait their turn.
    roll_pool = ThreadPoolExecutor(max_workers=config["ROLL_THREADS"], thread_name_prefix="roll")
    return build_app(die_service, dice, roll_pool, faults)


def build_app(die_service, dice, roll_pool, fault_injector):
    """The app from its collaborators, reading nothing from the environment: tests pass a
    fake die service and a DieRoller with no delay and a seeded random.Random."""

    def readiness_check():
        if die_service.is_reachable():
            return True, {}
        return False, {"message": "The die service cannot be reached."}

    app = create_service_app(readiness_check, OPENAPI_DOCUMENT, fault_injector)
    app.add_route("/", ServiceInfo())
    app.add_route("/roll", Roll(die_service, dice))
    app.add_route("/roll-async", RollMany(die_service, dice, roll_pool))
    return app
