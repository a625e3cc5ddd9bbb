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
