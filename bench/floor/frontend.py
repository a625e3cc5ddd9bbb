"""The floor's frontend: a minimal Django project in one module, GET /roll?die=X forwarded to
the dice roller (gunicorn loads `bench.floor.frontend:application`)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

from ops.http_session import create_session
from ops.settings import read

settings.configure(
    DEBUG=False, SECRET_KEY="bench-floor-only", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=[], MIDDLEWARE=[], DATABASES={}, LOGGING_CONFIG=None, USE_TZ=True,
)
ROLLER = f"{os.environ['DICE_ROLLER_URL']}/roll"
SESSION = create_session(pool_size=read("GUNICORN_THREADS"))


def roll(request):
    answer = SESSION.get(ROLLER, params={"die": request.GET["die"]}, timeout=5).json()
    return JsonResponse({**answer, "trace_id": None})


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("roll", roll), path("healthz", healthz)]
application = get_wsgi_application()
