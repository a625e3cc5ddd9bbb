#!/usr/bin/env python
"""Django's command-line utility, for development: `python manage.py runserver 8105`."""

import os
import sys

from opentelemetry.instrumentation.django import DjangoInstrumentor

from frontend_site.routes import name_span_by_route
from ops.services import FRONTEND
from ops.telemetry import setup_telemetry

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontend_site.settings")
    # manage.py is a development tool; gunicorn loads wsgi.py, where DEBUG stays off.
    os.environ.setdefault("DJANGO_DEBUG", "true")
    setup_telemetry(FRONTEND.name, DjangoInstrumentor(), response_hook=name_span_by_route)

    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
