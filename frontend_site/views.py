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
from ops.metrics import OTHER, render_metrics, trace_exemplar
from ops.telemetry import current_trace_id
from ops.validation import identifier_error

logger = logging.getLogger(__name__)


def error_body(code, message):
    return {"error": code, "message": message, "trace_id": current_trace_id()}


def json_error(status, code, message):
    return JsonResponse(error_body(code, message), status=status)


def get_only(view):
    """Like Django's require_safe, but the 405 is JSON like every other error."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            response = json_error(405, "method_not_allowed", "This path does not accept that method.")
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
    error = identifier_error("die", values)
    if error:
        return 400, error_body(*error)
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
        return 504, error_body("dice_roller_timeout", "The dice roller did not answer in time.")
    except requests.ConnectionError:
        return 503, error_body("dice_roller_unavailable", "The dice roller cannot be reached; try again.")
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
        return answer.status_code, error_body(str(body["error"]), str(body.get("message", "")))
    return 502, error_body("bad_gateway", "The dice roller gave an answer that could not be used.")


@get_only
def healthz(request):
    return JsonResponse({"status": "ok"})


@get_only
def readyz(request):
    if not frontend().die_list.identifiers():
        return json_error(503, "not_ready", "No die list from the die service yet.")
    return JsonResponse({"status": "ready"})


@get_only
def metrics(request):
    body, content_type = render_metrics(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def bad_request(request, exception=None):
    # Reached for a Host header outside ALLOWED_HOSTS, among others.
    return json_error(400, "bad_request", "The request could not be understood.")


def not_found(request, exception=None):
    return json_error(404, "not_found", "There is nothing at this path.")


def server_error(request):
    return json_error(500, "internal_error", "Something went wrong on our side.")
