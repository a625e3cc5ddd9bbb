"""The dice roller's WSGI app: `gunicorn ... 'roller.app:create_app()'`."""

import random
from pathlib import Path

from opentelemetry.instrumentation.falcon import FalconInstrumentor

from ops.env import env_float, env_url
from ops.falcon_app import create_service_app, write_error
from ops.http_session import create_session
from ops.telemetry import setup_telemetry
from roller.die_client import (
    DieServiceBadResponse,
    DieServiceClient,
    DieServiceError,
    DieServiceUnavailable,
    UnknownDie,
)
from roller.resources import DieFailed, Roll, ServiceInfo

SERVICE_NAME = "dice-roller"
OPENAPI_DOCUMENT = Path(__file__).parent / "openapi.json"

# How each failure reaches the caller. An unknown die is 404, not 503: the die service
# is up and said the die does not exist, the caller's mistake (README: "Status codes").
ERROR_RESPONSES = {
    UnknownDie: (404, "unknown_die", "No die has that identifier."),
    DieServiceUnavailable: (503, "die_service_unavailable", "The die service cannot be reached; try again."),
    DieServiceBadResponse: (502, "bad_gateway", "The die service gave an error or an unusable specification."),
    DieFailed: (500, "die_failed", "The die fell off the table (a simulated failure)."),
}


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
    app.add_error_handler(DieServiceError, _handle_roll_error)
    app.add_error_handler(DieFailed, _handle_roll_error)
    app.add_route("/", ServiceInfo())
    app.add_route("/roll", Roll(die_service, max_delay_seconds, rng or random.Random()))
    return app


def _handle_roll_error(req, resp, ex, params):
    write_error(resp, *ERROR_RESPONSES[type(ex)])
