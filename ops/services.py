"""The three services: the one table that names them, their ports, entry points and settings."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str  # OTEL_SERVICE_NAME, and `service` in every log line
    package: str
    local_port: int
    entry_point: str  # what gunicorn loads
    container: str  # compose container_name and Prometheus job
    settings: tuple  # the variables of ops/settings.py it reads, checked at start
    # "module:function" that gunicorn's master runs once before any worker boots, and again
    # on SIGHUP: what a deployment does once, not each worker (ops/gunicorn.conf.py).
    prepare: str = ""

    def __str__(self):
        return self.name

    def otel_name(self):
        return otel_service_name(self.name)


_COMMON = ("FAULT_INJECTION", "LOG_LEVEL", "OTEL_TRACES_EXPORTER", "PYROSCOPE_SERVER_ADDRESS",
           "PYROSCOPE_UPLOAD_INTERVAL_SECONDS")
# What gunicorn itself reads (ops/gunicorn.conf.py), whichever service it runs.
GUNICORN_SETTINGS = ("WEB_CONCURRENCY", "GUNICORN_THREADS", "LOG_LEVEL")
DIE_SERVICE = Service(
    "die-service", "diespec", 8103, "diespec.app:create_app()", "die-service-stage3",
    (
        "DIE_SPECIFICATIONS_FILE", "DATABASE_URL", "DATABASE_POOL_SIZE", "DATABASE_TIMEOUT_SECONDS", *_COMMON,
    ),
    prepare="diespec.seed:seed_from_settings",
)
DICE_ROLLER = Service(
    "dice-roller", "roller", 8104, "roller.app:create_app()", "dice-roller-stage3",
    (
        "DIE_SERVICE_URL", "DIE_SERVICE_TIMEOUT_SECONDS", "ROLL_MAX_DELAY_SECONDS", "ROLL_THREADS",
        "GUNICORN_THREADS", *_COMMON,
    ),
)
FRONTEND = Service(
    "frontend", "frontend_site", 8105, "frontend_site.wsgi:application", "frontend-stage3",
    (
        "DIE_SERVICE_URL", "DICE_ROLLER_URL", "DICE_ROLLER_TIMEOUT_SECONDS", "DIE_LIST_MAX_AGE_SECONDS", "GRAFANA_URL",
        "TRACE_VIEW_URL",
        "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "GUNICORN_THREADS", *_COMMON,
    ),
)
SERVICES = (DIE_SERVICE, DICE_ROLLER, FRONTEND)

# The trace contract: frontend SERVER and CLIENT, dice-roller SERVER, CLIENT and the
# INTERNAL roll, die-service SERVER and its database query (CLIENT).
SPANS_PER_ROLL = 7


def spans_per_batch(times):
    """The spans of a batch of `times` dice (/roll-async): a roll's, with one `roll die` span a die."""
    return SPANS_PER_ROLL - 1 + times


def otel_service_name(default):
    """The name a service exports, logs and takes faults under: OTEL_SERVICE_NAME unless it is
    unset or empty (empty means unset: the SDK alone would say `unknown_service:python`)."""
    return os.environ.get("OTEL_SERVICE_NAME") or default


def service_for_entry_point(app_uri):
    """The service whose package an entry point ('diespec.app:create_app()') loads, or None."""
    package = (app_uri or "").split(":", 1)[0].split(".", 1)[0]
    return next((service for service in SERVICES if service.package == package), None)
