"""Links to a trace, for the people reading our output: make run's own trace page when it
serves one (TRACE_VIEW_URL), else Grafana's Explore."""

import json
from urllib.parse import urlencode

# The Tempo datasource's UID in stack/grafana/provisioning/datasources/datasources.yaml.
TEMPO_DATASOURCE_UID = "tempo"


# make run serves each trace it keeps as a page here (runtime/views/page.py), and a search's
# traces as a page there (runtime/views/search.py).
TRACE_PAGE_PATH = "/trace/"
SEARCH_PAGE_PATH = "/search"


def trace_url(trace_id, grafana_url, trace_view_url=None):
    """Where a trace opens: make run's page of it at `trace_view_url`, or Grafana's Explore."""
    if trace_view_url:
        return f"{trace_view_url.rstrip('/')}{TRACE_PAGE_PATH}{trace_id}"
    return explore_trace_url(grafana_url, trace_id)


def trace_viewer(trace_view_url):
    """What a trace link opens, in its words: "View trace in Grafana", or make run's page."""
    return "View trace" if trace_view_url else "View trace in Grafana"


def explore_trace_url(grafana_url, trace_id):
    return explore_url(grafana_url, trace_id, "now-1h")


def explore_search_url(grafana_url, traceql, since=None):
    """Grafana's Explore with a TraceQL search, over the time since `since` (Unix seconds; the last
    hour when None)."""
    return explore_url(grafana_url, traceql, str(int(since * 1000)) if since else "now-1h")


def explore_url(grafana_url, query, start):
    """Grafana's Explore on the Tempo datasource, `query` (a trace id or TraceQL) from `start` to now."""
    pane = {
        "datasource": TEMPO_DATASOURCE_UID,
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": "tempo", "uid": TEMPO_DATASOURCE_UID},
                "queryType": "traceql",
                "query": query,
            }
        ],
        "range": {"from": start, "to": "now"},
    }
    query = urlencode({"schemaVersion": 1, "panes": json.dumps({"trace": pane}, separators=(",", ":")), "orgId": 1})
    return f"{grafana_url.rstrip('/')}/explore?{query}"
