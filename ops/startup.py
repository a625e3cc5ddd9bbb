"""Refusing to start: one clear log line, and an exit code that gunicorn heeds."""

import logging

# gunicorn stops (rather than restarting the worker forever) when a worker exits with this code.
APP_LOAD_ERROR = 4

logger = logging.getLogger(__name__)


def refuse_to_start(problem, **context):
    logger.critical("Cannot start: %s", problem, extra=context)
    raise SystemExit(APP_LOAD_ERROR)
