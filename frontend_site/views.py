"""The frontend's views: the page, the roll forwarded to the dice roller, and probes."""

import functools
import logging
import time

import requests
from django.apps import apps
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from opentelemetry import trace

from frontend_site.metrics import DICE_ROLLER_REQUEST_DURATION, ROLL_REQUESTS
from frontend_site.page import page_config, roll_outcome
from ops import errors
from ops.errors import identifier_error
from ops.metrics import OTHER, render_metrics, trace_exemplar
from ops.telemetry import current_trace_id

logger = logging.getLogger(__name__)


def error_body(kind, **fields):
    return {**kind.body(**fields), "trace_id": current_trace_id()}


def json_error(kind, **fields):
    return JsonResponse(error_body(kind, **fields), status=kind.status)


def get_only(view):
    """Like Django's require_safe, but the 405 is JSON like every other error."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            response = json_error(errors.METHOD_NOT_ALLOWED)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


def frontend():
    return apps.get_app_config("frontend_site")


@get_only
def index(request):
    """The page. Without JavaScript its form sends `/?die=X` and the roll is shown here."""
    dice = frontend().die_list.identifiers()
    context = {"dice": dice, "page_config": page_config()}
    status = 200
    if "die" in request.GET:
        started = time.perf_counter()
        status, body = roll_die(request.GET.getlist("die"))
        listed = request.GET["die"] if request.GET["die"] in dice else None
        context["result"] = roll_outcome(status, body, time.perf_counter() - started, listed)
    return render(request, "frontend_site/index.html", context, status=status)


@get_only
def roll(request):
    status, body = roll_die(request.GET.getlist("die"))
    return JsonResponse(body, status=status)


def roll_die(values):
    """Checks the die, asks the dice roller and counts the roll: (status, JSON body)."""
    error = identifier_error(values)
    if error:
        return error.status, error_body(error, parameter="die")
    die_type = values[0]
    trace.get_current_span().set_attribute("die.type", die_type)
    logger.info("Roll request received", extra={"die_type": die_type})

    status, body = _ask_dice_roller(die_type)
    # Only dice the die service lists become label values.
    label = die_type if die_type in frontend().die_list.identifiers() else OTHER
    ROLL_REQUESTS.labels(label, str(status)).inc()
    return status, body


def _ask_dice_roller(die_type):
    started = time.perf_counter()
    try:
        answer = frontend().http.get(
            f"{settings.DICE_ROLLER_URL}/roll",
            params={"die": die_type},
            timeout=settings.DICE_ROLLER_TIMEOUT_SECONDS,
        )
    except requests.Timeout:
        return errors.DICE_ROLLER_TIMEOUT.status, error_body(errors.DICE_ROLLER_TIMEOUT)
    except requests.ConnectionError:
        return errors.DICE_ROLLER_UNAVAILABLE.status, error_body(errors.DICE_ROLLER_UNAVAILABLE)
    finally:
        elapsed = time.perf_counter() - started
        DICE_ROLLER_REQUEST_DURATION.observe(elapsed, exemplar=trace_exemplar())

    logger.info(
        "Dice roller response received",
        extra={
            "die_type": die_type,
            "status_code": answer.status_code,
            "duration_ms": round(elapsed * 1000, 3),
        },
    )
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code == 200 and isinstance(body, dict) and isinstance(body.get("roll"), int):
        return 200, {"die": die_type, "roll": body["roll"], "trace_id": current_trace_id()}
    if answer.status_code >= 400 and isinstance(body, dict) and "error" in body:
        # The roller's own error, passed on as it is.
        relayed = {"error": str(body["error"]), "message": str(body.get("message", ""))}
        return answer.status_code, {**relayed, "trace_id": current_trace_id()}
    return errors.BAD_GATEWAY.status, error_body(errors.BAD_GATEWAY, upstream="dice roller")


@get_only
def healthz(request):
    return JsonResponse({"status": "ok"})


@get_only
def readyz(request):
    if not frontend().die_list.identifiers():
        return json_error(errors.NOT_READY, reason="No die list from the die service yet.")
    return JsonResponse({"status": "ready"})


@get_only
def metrics(request):
    body, content_type = render_metrics(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def bad_request(request, exception=None):
    # Reached for a Host header outside ALLOWED_HOSTS, among others.
    return json_error(errors.BAD_REQUEST)


def not_found(request, exception=None):
    return json_error(errors.NOT_FOUND)


def server_error(request):
    return json_error(errors.INTERNAL_ERROR)
