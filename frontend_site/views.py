"""The frontend's views: the page, the roll forwarded to the dice roller, and probes."""

import functools
import logging
import time

from django.apps import apps
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from opentelemetry import trace

from frontend_site.answers import error_body, json_error
from frontend_site.faults import CHOICE_BY_NAME, CHOICES, carried
from frontend_site.metrics import ROLL_REQUESTS
from frontend_site.page import page_config, roll_outcome
from frontend_site.roller_client import (
    DiceRollerBadAnswer,
    DiceRollerClient,
    DiceRollerError,
    DiceRollerTimeout,
    DiceRollerUnavailable,
    RollRefused,
)
from ops import errors
from ops.errors import identifier_error
from ops.metrics import OTHER, render_metrics
from ops.telemetry import current_trace_id

logger = logging.getLogger(__name__)


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
    choice = chosen_fault(request)
    context = {"dice": dice, "page_config": page_config(), "fault_choices": CHOICES, "fault": choice}
    status = 200
    if "die" in request.GET:
        started = time.perf_counter()
        status, body = roll_die(request.GET.getlist("die"), choice)
        listed = request.GET["die"] if request.GET["die"] in dice else None
        context["result"] = roll_outcome(status, body, time.perf_counter() - started, listed)
    return render(request, "frontend_site/index.html", context, status=status)


@get_only
def roll(request):
    status, body = roll_die(request.GET.getlist("die"), chosen_fault(request))
    return JsonResponse(body, status=status)


def chosen_fault(request):
    """The page's "Break something" choice (`fault=die-service-fails`), or None. An unknown
    one is ignored, like a malformed fault in the baggage: it never changes the answer."""
    name = request.GET.get("fault", "")
    if name and name not in CHOICE_BY_NAME:
        logger.warning("Unknown fault choice ignored", extra={"choices": list(CHOICE_BY_NAME)})
    return CHOICE_BY_NAME.get(name)


# What the frontend answers when the dice roller gave no roll.
ROLLER_ERRORS = {
    DiceRollerTimeout: (errors.DICE_ROLLER_TIMEOUT, {}),
    DiceRollerUnavailable: (errors.DICE_ROLLER_UNAVAILABLE, {}),
    DiceRollerBadAnswer: (errors.BAD_GATEWAY, {"upstream": "dice roller"}),
}


def roll_die(values, fault_choice=None):
    """Checks the die, asks the dice roller (carrying the chosen fault) and counts the roll:
    (status, JSON body)."""
    error = identifier_error(values)
    if error:
        return error.status, error_body(error, parameter="die")
    die_type = values[0]
    trace.get_current_span().set_attribute("die.type", die_type)
    logger.info("Roll request received", extra={"die_type": die_type})

    roller = DiceRollerClient(settings.DICE_ROLLER_URL, settings.DICE_ROLLER_TIMEOUT_SECONDS, frontend().http)
    try:
        with carried(fault_choice):
            status, body = 200, {"die": die_type, "roll": roller.roll(die_type), "trace_id": current_trace_id()}
    except RollRefused as refused:  # the roller's own error, passed on as it is
        status = refused.status
        body = {"error": refused.code, "message": refused.message, "trace_id": current_trace_id()}
    except DiceRollerError as failure:
        kind, fields = ROLLER_ERRORS[type(failure)]
        status, body = kind.status, error_body(kind, **fields)
    if fault_choice:
        body["fault"] = fault_choice.entry
    # Only dice the die service lists become label values.
    label = die_type if die_type in frontend().die_list.identifiers() else OTHER
    ROLL_REQUESTS.labels(label, str(status)).inc()
    return status, body


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
