"""The dice roller's own metrics (the HTTP ones come from ops.metrics)."""

from prometheus_client import Counter, Gauge, Histogram

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

# /roll-async: the seed's Stage 4 names.
ASYNC_ROLLS = Counter(
    "async_rolls_total", "Rolls of /roll-async batches, one per die, by die and result (success or error).",
    ["die_type", "result"],
)
ASYNC_ROLL_BATCH_SIZE = Histogram(
    "async_roll_batch_size", "Dice per /roll-async batch.", buckets=(1, 2, 3, 5, 10, 15, 20)
)
ASYNC_ROLL_DURATION = Histogram(
    "async_roll_duration_seconds", "Time a /roll-async batch took, from its first roll to its last."
)
# `livesum`: the rolls running now in every live worker, added up.
ASYNC_ROLLS_IN_PROGRESS = Gauge(
    "async_rolls_in_progress", "Rolls of /roll-async batches running now (started on a roll thread, not finished).",
    multiprocess_mode="livesum",
)
