"""The frontend's settings, all from the environment with defaults for a local run."""

from pathlib import Path

from ops.settings import read
from ops.telemetry import tracing_enabled

BASE_DIR = Path(__file__).resolve().parent

DEBUG = read("DJANGO_DEBUG")
# Required unless DEBUG is on (then a development key): ops/settings.py, checked at start.
SECRET_KEY = read("DJANGO_SECRET_KEY")

ALLOWED_HOSTS = read("DJANGO_ALLOWED_HOSTS")

# No admin, no database, no sessions: the page keeps no state of its own.
INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "django_prometheus",
    "frontend_site.apps.FrontendConfig",
]
MIDDLEWARE = [
    # Inside OpenTelemetry's own middleware, which the instrumentation puts first.
    "frontend_site.middleware.SpanContextMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Security headers on every response, the static files' included.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "frontend_site.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "frontend_site.middleware.HttpMetricsMiddleware",
    "frontend_site.middleware.FaultInjectionMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
ROOT_URLCONF = "frontend_site.urls"
WSGI_APPLICATION = "frontend_site.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {}

# The page's script, style and icon, served by WhiteNoise straight from the app's static/
# folder (no collectstatic step: three small files).
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True

# Nothing inline and nothing from elsewhere; the page's data travels as JSON (json_script).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
USE_TZ = True
# Django moves TIME_ZONE into the process's TZ (its default is America/Chicago): UTC, as every
# JSON line's timestamp, so runserver's own lines tell the same time.
TIME_ZONE = "UTC"
# ops.logs configures logging (JSON lines); Django must not replace it.
LOGGING_CONFIG = None

# The services the frontend talks to.
DIE_SERVICE_URL = read("DIE_SERVICE_URL")
DICE_ROLLER_URL = read("DICE_ROLLER_URL")
DICE_ROLLER_TIMEOUT_SECONDS = read("DICE_ROLLER_TIMEOUT_SECONDS")
GRAFANA_URL = read("GRAFANA_URL")
TRACE_VIEW_URL = read("TRACE_VIEW_URL")  # make run's trace pages; None: Grafana
# Faults carried in the requests' baggage (ops/faults.py): on in this sandbox.
FAULT_INJECTION = read("FAULT_INJECTION")
# The page's "Break something" and `?fault=` send a fault downstream in the baggage, which
# travels only with tracing on: both switches, or the page offers nothing and refuses `fault=`.
SEND_FAULTS = FAULT_INJECTION and tracing_enabled()
# One pooled connection to the roller per gunicorn thread.
HTTP_POOL_SIZE = read("GUNICORN_THREADS")

# The die list: fetched at start-up (off in tests), then again once older than this.
FETCH_DIE_LIST_AT_STARTUP = True
DIE_LIST_MAX_AGE_SECONDS = read("DIE_LIST_MAX_AGE_SECONDS")
DIE_LIST_TIMEOUT_SECONDS = 2.0
