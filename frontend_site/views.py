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
from frontend_site.metrics import ASYNC_ROLL_REQUESTS, DIE_FAILED_ANSWERS, ROLL_REQUESTS
from frontend_site.page import page_config, roll_outcome
from frontend_site.roller_client import (
    DiceRollerBadAnswer,
    DiceRollerClient,
    DiceRollerError,
    DiceRollerTimeout,
    DiceRollerUnavailable,
    RollRefused,
)
from frontend_site.routes import route_template
from ops import errors
from ops.errors import identifier_error, times_error
from ops.grafana_links import trace_viewer
from ops.metrics import OTHER, render_metrics
from ops.telemetry import current_trace_id
from ops.validation import parse_times

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
    """The page. Without JavaScript its form sends `/?die=X&times=N` and the roll is shown here."""
    dice = frontend().die_list.identifiers(fresh=True)  # the dice the die service has now
    choice, refusal = chosen_fault(request)
    fault_choices = CHOICES if settings.SEND_FAULTS else []
    context = {"dice": dice, "page_config": page_config(), "fault_choices": fault_choices, "fault": choice,
               "trace_link_text": trace_viewer(settings.TRACE_VIEW_URL)}
    status = 200
    if refusal:
        status = refusal.status
        context["result"] = roll_outcome(status, error_body(refusal), 0, None)
    elif "die" in request.GET:
        # The form's "How many" field: 1 (or left empty) is one roll, more a batch.
        times = [value for value in request.GET.getlist("times") if value] or ["1"]
        started = time.perf_counter()
        if times == ["1"]:
            status, body = roll_die(request.GET.getlist("die"), choice)
        else:
            status, body = roll_dice(request.GET.getlist("die"), times, choice)
        count_die_failure(request, body)
        listed = request.GET["die"] if request.GET["die"] in dice else None
        context["times"] = parse_times(times[0]) if len(times) == 1 else None
        context["result"] = roll_outcome(status, body, time.perf_counter() - started, listed, context["times"])
    return render(request, "frontend_site/index.html", context, status=status)


@get_only
def roll(request):
    choice, refusal = chosen_fault(request)
    if refusal:
        return json_error(refusal)
    status, body = roll_die(request.GET.getlist("die"), choice)
    count_die_failure(request, body)
    return JsonResponse(body, status=status)


@get_only
def roll_many(request):
    """GET /roll-async?die=X&times=N: N dice rolled at once by the dice roller."""
    choice, refusal = chosen_fault(request)
    if refusal:
        return json_error(refusal)
    status, body = roll_dice(request.GET.getlist("die"), request.GET.getlist("times"), choice)
    count_die_failure(request, body)
    return JsonResponse(body, status=status)


def count_die_failure(request, body):
    """A die's own simulated failure, counted by route apart from the other 5xx answers: the
    availability objective leaves it out (docs/slo.md)."""
    if body.get("error") == errors.DIE_FAILED.code:
        DIE_FAILED_ANSWERS.labels(route_template(request)).inc()


def chosen_fault(request):
    """(the page's "Break something" choice or None, the error that refuses it or None), from
    `fault=die-service-fails`. With fault injection or tracing off no fault can be sent, and the
    request is refused rather than rolled without one (and told it was broken). An unknown
    choice is ignored, like a malformed fault in the baggage: it never changes the answer."""
    name = request.GET.get("fault", "")
    if not name:
        return None, None
    if not settings.SEND_FAULTS:
        return None, errors.FAULTS_DISABLED
    if name not in CHOICE_BY_NAME:
        logger.warning("Unknown fault choice ignored", extra={"choices": list(CHOICE_BY_NAME)})
    return CHOICE_BY_NAME.get(name), None


# What the frontend answers when the dice roller gave no roll.
ROLLER_ERRORS = {
    DiceRollerTimeout: (errors.DICE_ROLLER_TIMEOUT, {}),
    DiceRollerUnavailable: (errors.DICE_ROLLER_UNAVAILABLE, {}),
    DiceRollerBadAnswer: (errors.BAD_GATEWAY, {"upstream": "dice roller"}),
}


def roll_die(values, fault_choice=None):
    """Checks the die, asks the dice roller for one roll and counts it: (status, JSON body)."""
    error = identifier_error(values)
    if error:
        return error.status, error_body(error, parameter="die")
    die_type = values[0]
    trace.get_current_span().set_attribute("die.type", die_type)
    logger.info("Roll request received", extra={"die_type": die_type})

    status, body = ask_roller(lambda roller: {"die": die_type, "roll": roller.roll(die_type)}, fault_choice)
    # Only dice the die service lists become label values.
    label = die_type if die_type in frontend().die_list.identifiers() else OTHER
    ROLL_REQUESTS.labels(label, str(status)).inc()
    return status, body


def roll_dice(die_values, times_values, fault_choice=None):
    """Checks the die and the number of dice, asks the dice roller for the batch and counts
    it: (status, JSON body)."""
    error = identifier_error(die_values)
    if error:
        return error.status, error_body(error, parameter="die")
    error = times_error(times_values)
    if error:
        return error.status, error_body(error, parameter="times")
    die_type, times = die_values[0], int(times_values[0])
    span = trace.get_current_span()
    span.set_attribute("die.type", die_type)
    span.set_attribute("die.count", times)
    logger.info("Roll request received", extra={"die_type": die_type, "times": times})

    status, body = ask_roller(lambda roller: roller.roll_many(die_type, times), fault_choice)
    # `times` is a checked number from 1 to 20: twenty label values at most.
    ASYNC_ROLL_REQUESTS.labels(str(times), str(status)).inc()
    return status, body


def ask_roller(call, fault_choice):
    """(status, JSON body) of `call(roller)`, made with the chosen fault in the baggage: its
    answer plus the trace id, or the error that stands for what went wrong."""
    roller = DiceRollerClient(settings.DICE_ROLLER_URL, settings.DICE_ROLLER_TIMEOUT_SECONDS, frontend().http)
    try:
        with carried(fault_choice):
            status, body = 200, {**call(roller), "trace_id": current_trace_id()}
    except RollRefused as refused:  # the roller's own error, passed on as it is
        status, body = refused.status, {**refused.fields, "trace_id": current_trace_id()}
    except DiceRollerError as failure:
        kind, fields = ROLLER_ERRORS[type(failure)]
        status, body = kind.status, error_body(kind, **fields)
    if fault_choice:
        body["fault"] = fault_choice.entry
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
