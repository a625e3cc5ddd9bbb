"""What the page shows for a roll: the result or the error in plain words, with its trace."""

from django.conf import settings

from ops import errors
from ops.grafana_links import trace_url

# The page's plain words for each error of ops.errors the frontend can answer with.
ERROR_TEXT = {
    errors.DIE_FAILED.code: (
        "The die failed",
        (
            "This die fails on purpose now and then, to give you errors to find. "
            "Open the trace to see where it failed."
        ),
    ),
    errors.UNKNOWN_DIE.code: (
        "Unknown die",
        "The die service does not know this die. Reload the page for the current list.",
    ),
    errors.MISSING_PARAMETER.code: ("Pick a die", "Choose a die from the list, then roll."),
    errors.INVALID_TIMES.code: ("How many dice?", "Roll from 1 to 20 dice at once."),
    errors.INVALID_IDENTIFIER.code: ("Pick a die", "Choose a die from the list, then roll."),
    errors.DICE_ROLLER_UNAVAILABLE.code: (
        "Dice roller unavailable",
        "The dice roller is not answering. Start it again, or wait a moment and roll again.",
    ),
    errors.DIE_SERVICE_UNAVAILABLE.code: (
        "Die service unavailable",
        "The dice roller cannot reach the die service. Wait a moment and roll again.",
    ),
    errors.DICE_ROLLER_TIMEOUT.code: (
        "The roll timed out",
        "The dice roller took too long to answer. The trace shows where the time went.",
    ),
    errors.BAD_GATEWAY.code: ("Unusable answer", "A service answered with something the frontend could not use."),
    errors.FAULTS_DISABLED.code: (
        "Faults are off",
        "This sandbox was started with fault injection or tracing off, so no fault can travel. Roll without one.",
    ),
    errors.INJECTED_FAULT.code: (
        "Broken on purpose",
        "A service failed because this roll carried a fault. The trace shows which one, and where.",
    ),
    # Only the page's script meets this one: the frontend itself did not answer.
    "frontend_unreachable": ("Frontend unreachable", "The page could not reach the frontend. Is it running?"),
}
UNKNOWN_ERROR_TEXT = ("Something went wrong", "The roll failed. The trace has the details.")

# Stands in for the trace id in the link the page's script completes; a trace id is
# 32 hex digits, which URL-encoding leaves alone, so a plain replace is safe.
TRACE_ID_PLACEHOLDER = "TRACE_ID"


def page_config():
    """What the page's script needs, handed over as JSON (json_script), not as inline code."""
    return {
        "errors": {code: {"title": title, "text": text} for code, (title, text) in ERROR_TEXT.items()},
        "unknownError": dict(zip(("title", "text"), UNKNOWN_ERROR_TEXT, strict=True)),
        "traceUrlTemplate": trace_url(TRACE_ID_PLACEHOLDER, settings.GRAFANA_URL, settings.TRACE_VIEW_URL),
        "traceIdPlaceholder": TRACE_ID_PLACEHOLDER,
        "historySize": 10,
    }


def roll_outcome(status, body, elapsed_seconds, die, times=1):
    """The result area's content for a roll answered by the server (the page without
    JavaScript). `die` is one of the listed dice, or None: nothing else is shown back;
    `times` how many dice were asked for (roll.js writes the same words)."""
    trace_id = body.get("trace_id")
    outcome = {
        "ok": status == 200,
        "status": status,
        "die": die,
        # One roll's value, or a batch's total.
        "roll": body.get("total", body.get("roll")),
        "dice": batch_words(times, body),
        "elapsed_ms": round(elapsed_seconds * 1000),
        "trace_id": trace_id,
        "trace_url": trace_url(trace_id, settings.GRAFANA_URL, settings.TRACE_VIEW_URL) if trace_id else None,
        "fault": body.get("fault"),
    }
    if status != 200:
        outcome["title"], outcome["text"] = ERROR_TEXT.get(body.get("error"), UNKNOWN_ERROR_TEXT)
    return outcome


def batch_words(times, body):
    """"3 dice: 4 + 2 + 6 = 12", "1 of 3 dice failed", or None for a single roll."""
    if times == 1:
        return None
    if "rolls" in body:
        return f"{times} dice: {' + '.join(map(str, body['rolls']))} = {body['total']}"
    if "failed" in body:
        return f"{body['failed']} of {times} dice failed"
    return None
