"""The dice roller's WSGI app: `gunicorn ... 'roller.app:create_app()'`."""

import random
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor

from ops.falcon_app import create_service_app
from ops.http_session import create_session
from ops.services import DICE_ROLLER
from ops.startup import settings_or_exit
from ops.telemetry import setup_telemetry
from roller.die_client import DieServiceClient
from roller.resources import Roll, ServiceInfo

OPENAPI_DOCUMENT = Path(__file__).parent / "openapi.json"

def create_app(die_service=None, max_delay_seconds=None, rng=None):
    """Gunicorn calls it with no arguments and everything comes from the environment;
    tests pass a die service, a delay and a seeded random.Random."""
    setup_telemetry(DICE_ROLLER.name, FalconInstrumentor())
    if die_service is None or max_delay_seconds is None:
        config = settings_or_exit(*DICE_ROLLER.settings)
        die_service = die_service or DieServiceClient(
            config["DIE_SERVICE_URL"],
            config["DIE_SERVICE_TIMEOUT_SECONDS"],
            create_session(pool_size=config["GUNICORN_THREADS"]),
        )
        max_delay_seconds = config["ROLL_MAX_DELAY_SECONDS"] if max_delay_seconds is None else max_delay_seconds

    def readiness_check():
        if die_service.is_reachable():
            return True, {}
        return False, {"message": "The die service cannot be reached."}

    app = create_service_app(readiness_check, OPENAPI_DOCUMENT)
    app.add_route("/", ServiceInfo())
    app.add_route("/roll", Roll(die_service, max_delay_seconds, rng or random.Random()))
    return app

