"""Links into Grafana for a trace id, for the people reading our output."""

import json
from urllib.parse import urlencode

# The Tempo datasource's UID in stack/grafana/provisioning/datasources/datasources.yaml.
TEMPO_DATASOURCE_UID = "tempo"


def explore_trace_url(grafana_url, trace_id):
    pane = {
        "datasource": TEMPO_DATASOURCE_UID,
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": "tempo", "uid": TEMPO_DATASOURCE_UID},
                "queryType": "traceql",
                "query": trace_id,
            }
        ],
        "range": {"from": "now-1h", "to": "now"},
    }
    query = urlencode({"schemaVersion": 1, "panes": json.dumps({"trace": pane}, separators=(",", ":")), "orgId": 1})
    return f"{grafana_url.rstrip('/')}/explore?{query}"
