"""Grafana Pyroscope's API as data: where it listens, the agent's push path, the two CPU queries
the labs and the stack check send (Connect's JSON), and reading the flame graph they answer.
make run's Pyroscope (runtime/backends/pyroscope.py) answers on the same paths in the same shapes."""

import time

# Pyroscope's own port, where the services push and the labs ask, under compose and make run alike.
PYROSCOPE_PORT = 4040
PUSH_PATH = "/push.v1.PusherService/Push"
STACKTRACES_PATH = "/querier.v1.QuerierService/SelectMergeStacktraces"
SPAN_PROFILE_PATH = "/querier.v1.QuerierService/SelectMergeSpanProfile"
CPU_PROFILE_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
# pyroscope-otel's attribute on each span whose samples it labels (a span without it was not profiled).
PROFILE_ID_ATTRIBUTE = "pyroscope.profile.id"


def cpu_query(service, since_seconds, span_ids=None):
    """The JSON of a query of `service`'s CPU over the last `since_seconds` (SelectMergeStacktraces),
    or of the spans `span_ids` only (SelectMergeSpanProfile): what a client of Pyroscope sends."""
    now_ms = int(time.time() * 1000)
    query = {"profileTypeID": CPU_PROFILE_TYPE, "labelSelector": f'{{service_name="{service}"}}',
             "start": now_ms - since_seconds * 1000, "end": now_ms}
    return {**query, "spanSelector": list(span_ids)} if span_ids else query


def hottest_function(graph):
    """The function with the most self time in a FlameGraph answer (Pyroscope's or ours), or None."""
    names, best, most = graph.get("names", []), None, 0
    for level in graph.get("levels", []):
        values = level.get("values", [])
        for position in range(0, len(values), 4):
            spent, name = int(values[position + 2]), int(values[position + 3])
            if spent > most:
                best, most = names[name], spent
    return best
