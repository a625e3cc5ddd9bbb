"""The frontend's own metrics (django-prometheus adds its `django_*` ones)."""

from prometheus_client import Counter, Gauge, Histogram

ROLL_REQUESTS = Counter(
    "frontend_roll_requests_total",
    "Roll requests, by die ('other' unless the die service lists it) and HTTP status.",
    ["die_type", "status"],
)
DICE_ROLLER_REQUEST_DURATION = Histogram(
    "dice_roller_request_duration_seconds", "Time the dice roller took to answer a roll."
)
DIE_TYPES_AVAILABLE = Gauge(
    "die_types_available", "Dice in the last list fetched from the die service.", multiprocess_mode="livemax"
)
ASYNC_ROLL_REQUESTS = Counter(
    "async_roll_requests_total",
    "Batch roll requests (/roll-async), by number of dice (1 to 20) and HTTP status.",
    ["batch_size", "status"],
)
# A die's own simulated failure (500 `die_failed`) is the die doing what its specification says,
# not the sandbox failing: counted apart, so that the availability objective can leave it out
# (docs/slo.md). Every route that rolls has its series from the start: a rate of 0, not "no data".
DIE_FAILED_ANSWERS = Counter(
    "frontend_die_failed_answers_total",
    "Answers that were a die's own simulated failure (500 die_failed), by route.",
    ["route"],
)
for _route in ("/", "/roll", "/roll-async"):
    DIE_FAILED_ANSWERS.labels(_route)
