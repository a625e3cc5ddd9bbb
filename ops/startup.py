"""Refusing to start: one clear log line, and an exit code that gunicorn heeds."""

import importlib
import logging

from ops import settings
from ops.services import GUNICORN_SETTINGS, service_for_entry_point

# gunicorn stops (rather than restarting the worker forever) when a worker exits with this code.
APP_LOAD_ERROR = 4

logger = logging.getLogger(__name__)


def refuse_to_start(problem, **context):
    logger.critical("Cannot start: %s", problem, extra=context)
    raise SystemExit(APP_LOAD_ERROR)


def settings_or_exit(*names):
    """{name: value} of these settings; the first bad one, or deadlines among them that do not
    nest (ops/settings.py, DEADLINES), stops the start."""
    try:
        values = {name: settings.read(name) for name in names}
        settings.check_deadlines(names)
    except settings.SettingError as error:
        refuse_to_start(error, variable=error.name)
    return values


def check_settings_of(app_uri):
    """Every setting gunicorn and the service behind `app_uri` read, checked in gunicorn's
    master before any worker boots: a bad value stops gunicorn at once, never in a restart loop."""
    service = service_for_entry_point(app_uri)
    settings_or_exit(*GUNICORN_SETTINGS, *(service.settings if service else ()))


def prepare_service(app_uri):
    """What the service behind `app_uri` does once per deployment, before any worker boots
    (Service.prepare in ops/services.py): the die service seeds its database."""
    service = service_for_entry_point(app_uri)
    if service and service.prepare:
        module, function = service.prepare.split(":")
        getattr(importlib.import_module(module), function)()
