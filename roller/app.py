"""The dice roller's WSGI app: `gunicorn ... 'roller.app:create_app()'`."""

import random
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor

from ops.env import env_float, env_url
from ops.falcon_app import create_service_app
from ops.http_session import create_session
from ops.telemetry import setup_telemetry
from roller.die_client import DieServiceClient
from roller.resources import Roll, ServiceInfo

SERVICE_NAME = "dice-roller"
OPENAPI_DOCUMENT = Path(__file__).parent / "openapi.json"

def create_app(die_service=None, max_delay_seconds=None, rng=None):
    """Gunicorn calls it with no arguments and everything comes from the environment;
    tests pass a die service, a delay and a seeded random.Random."""
    setup_telemetry(SERVICE_NAME, FalconInstrumentor())
    if die_service is None:
        die_service = DieServiceClient(
            env_url("DIE_SERVICE_URL", "http://127.0.0.1:8103"),
            env_float("DIE_SERVICE_TIMEOUT_SECONDS", 2.0),
            create_session(),
        )
    if max_delay_seconds is None:
        max_delay_seconds = env_float("ROLL_MAX_DELAY_SECONDS", 1.0)

    def readiness_check():
        if die_service.is_reachable():
            return True, {}
        return False, {"message": "The die service cannot be reached."}

    app = create_service_app(readiness_check, OPENAPI_DOCUMENT)
    app.add_route("/", ServiceInfo())
    app.add_route("/roll", Roll(die_service, max_delay_seconds, rng or random.Random()))
    return app

