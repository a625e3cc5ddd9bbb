"""The frontend's WSGI app: `gunicorn ... frontend_site.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application
from opentelemetry.instrumentation.django import DjangoInstrumentor

from ops.telemetry import setup_telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontend_site.settings")
# After the settings module is known and before Django loads: the instrumentor adds
# its middleware to settings.MIDDLEWARE, and the start-up die-list fetch gets traced.
setup_telemetry("frontend", DjangoInstrumentor())

application = get_wsgi_application()
