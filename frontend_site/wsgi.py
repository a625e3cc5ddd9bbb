"""The frontend's WSGI app: `gunicorn ... frontend_site.wsgi:application`."""

import os
from importlib import import_module

from django.core.wsgi import get_wsgi_application
from opentelemetry.instrumentation.django import DjangoInstrumentor

from frontend_site.routes import name_span_by_route
from ops.logs import configure_logging
from ops.services import FRONTEND
from ops.settings import SettingError
from ops.startup import refuse_to_start
from ops.telemetry import setup_telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontend_site.settings")
# The settings first, so that their error (no DJANGO_SECRET_KEY, say) stops the start
# with one clear line: the instrumentor would swallow it and go on with empty settings.
configure_logging(FRONTEND.name)
try:
    import_module(os.environ["DJANGO_SETTINGS_MODULE"])
except SettingError as error:
    refuse_to_start(error, variable=error.name)
# After the settings module is known and before Django loads: the instrumentor adds
# its middleware to settings.MIDDLEWARE, and the start-up die-list fetch gets traced.
setup_telemetry(FRONTEND.name, DjangoInstrumentor(), response_hook=name_span_by_route)

application = get_wsgi_application()
