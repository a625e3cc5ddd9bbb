"""The dice roller's own metrics (the HTTP ones come from ops.metrics)."""

from prometheus_client import Counter, Histogram

ROLLS = Counter("dice_rolls_total", "Rolls, by die and result (success or error).", ["die_type", "result"])
ROLL_VALUE = Histogram(
    "dice_roll_value",
    "Values rolled, by die.",
    ["die_type"],
    buckets=(1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20),
)
DIE_SERVICE_REQUESTS = Counter(
    "die_service_requests_total",
    "Requests to the die service, by identifier ('other' unless the die service knows it) "
    "and HTTP status (or timeout / connection_error).",
    ["identifier", "status"],
)
DIE_SERVICE_REQUEST_DURATION = Histogram(
    "die_service_request_duration_seconds", "Time the die service took to answer."
)
