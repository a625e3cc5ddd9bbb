"""A search of the traces make run keeps, as a page a browser opens (GET /search beside its Tempo
API, with /api/search's parameters): the query, editable, and the traces found, newest first,
each a link to its page. What the labs' search links open without Docker, rather than JSON."""

import time
from html import escape
from urllib.parse import urlencode

from backend_apis.tempo import SEARCH_PATH
from ops.grafana_links import SEARCH_PAGE_PATH, TRACE_PAGE_PATH
from runtime.views.page import STYLE

# The search's other parameters, kept as they are when the query is edited in the form.
KEPT = ("tags", "minDuration", "maxDuration", "start", "end", "limit")


def render_search(query, found, problem=None):
    """The page of a search: `query` its parameters, `found` /api/search's traces, `problem` why it
    could not be read (then nothing is found)."""
    kept = "".join(f'<input type="hidden" name="{name}" value="{escape(query[name])}">'
                   for name in KEPT if query.get(name))
    rows = [
        f'<tr><td class="mono">{_clock(int(trace["startTimeUnixNano"]))}</td>'
        f"<td>{escape(trace['rootServiceName'])}: {escape(trace['rootTraceName'])}</td>"
        f'<td class="mono">{trace["durationMs"]} ms</td>'
        f'<td class="mono"><a href="{TRACE_PAGE_PATH}{escape(trace_id)}">{escape(trace_id)}</a></td></tr>'
        for trace in found for trace_id in [trace["traceID"]]
    ]
    if problem:
        outcome = f'<p role="alert">That search cannot be read: {escape(problem)}.</p>'
    elif rows:
        outcome = (f"<p>{len(rows)} trace{'' if len(rows) == 1 else 's'}, newest first{_since(query)}.</p>"
                   "<table><thead><tr><th>started (UTC)</th><th>root span</th><th>duration</th><th>trace</th></tr>"
                   f"</thead><tbody>{''.join(rows)}</tbody></table>")
    else:
        outcome = (f"<p>No trace matches{_since(query)}, not yet at least: a trace arrives a second or two after "
                   "its roll. Reload to look again.</p>")
    as_json = f"{SEARCH_PATH}?{urlencode({k: v for k, v in query.items() if k in (*KEPT, 'q')})}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Traces found</title><style>{STYLE}</style></head>
<body><main>
<h1>Traces found</h1>
<form method="get" action="{SEARCH_PAGE_PATH}">
<label for="q">TraceQL</label>
<input id="q" name="q" size="90" value="{escape(query.get('q', ''))}">{kept}
<button type="submit">Search</button>
</form>
{outcome}
<p>The same search as JSON: <a href="{escape(as_json)}">{escape(as_json)}</a> (Tempo's API).</p>
</main></body></html>
"""


def _clock(unix_ns):
    return time.strftime("%H:%M:%S", time.gmtime(unix_ns / 1e9))


def _since(query):
    start = query.get("start", "")
    return f" since {_clock(int(float(start) * 1e9))} UTC" if start.replace(".", "", 1).isdigit() else ""
