"""The die service's own metrics (the HTTP ones come from ops.metrics)."""

from prometheus_client import Counter, Gauge

SPECIFICATIONS_REQUESTED = Counter(
    "die_specifications_requested_total",
    "Die specifications requested, by identifier ('other' for unknown ones).",
    ["identifier"],
)
LIST_REQUESTS = Counter("die_list_requests_total", "Requests for the list of dice.")
SPECIFICATIONS_LOADED = Gauge(
    "die_specifications_loaded", "Die specifications loaded at start.", multiprocess_mode="livemax"
)
