"""Each trace `make run` keeps, as a page a browser opens (GET /trace/<trace id> beside its Tempo
API): the waterfall as the terminal draws it, every span's attributes and events, the CPU of
each SERVER span when profiles arrive, and that trace's log lines from every service's log
file. What the page's and the traffic summary's trace links open without Docker. Every value
shown is escaped: attributes carry what callers sent (a die's name)."""

from html import escape

from runtime.backends.tempo import KEEP_SECONDS, MAX_BYTES
from runtime.views.tree import cpu_figure, cpu_summary, depth_first, event_fields, status_text

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1b1b; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
code, td.mono, pre { font-family: ui-monospace, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.bar-cell { width: 40%; } .bar { background: #3d71d9; height: .9rem; min-width: 2px; }
.error .bar { background: #c62828; } .error td.status { color: #c62828; font-weight: 600; }
details { margin: .15rem 0; } summary { cursor: pointer; }
"""


def render_page(trace_id, spans, cpu, log_lines):
    """The page of one trace: `cpu` as render_trace takes it, `log_lines` [(service, line as JSON)]."""
    start = min(span.start_ns for span in spans)
    total = max(max(span.end_ns for span in spans) - start, 1)
    rows = []
    for span, depth in depth_first(spans):
        left, width = (span.start_ns - start) / total * 100, (span.end_ns - span.start_ns) / total * 100
        outcome = status_text(span)
        details = [f"<li><code>{escape(key)}</code> = <code>{escape(str(value))}</code></li>"
                   for key, value in sorted(span.attributes.items())]
        details += [f"<li>event <b>{escape(name)}</b> "
                    + " ".join(f"<code>{escape(field)}</code>" for field in event_fields(attributes)) + "</li>"
                    for name, attributes in span.events]
        cpu_cell = "<td></td>"
        if span.span_id in cpu:
            details.append(f"<li>cpu: {escape(cpu_summary(cpu[span.span_id]))}</li>")
            cpu_cell = (f'<td class="mono" title="{escape(cpu_summary(cpu[span.span_id]))}">'
                        f"{escape(cpu_figure(cpu[span.span_id]))}</td>")
        rows.append(
            f'<tr class="{"error" if span.status == "ERROR" else ""}">'
            f"<td>{escape(span.service)}</td><td>{escape(span.kind)}</td>"
            f'<td style="padding-left:{0.5 + depth * 1.2:.1f}rem"><details><summary>{escape(span.name)}</summary>'
            f"<ul>{''.join(details)}</ul></details></td>"
            f'<td class="mono">{(span.end_ns - span.start_ns) / 1e6:.1f} ms</td>{cpu_cell}'
            f'<td class="status">{escape(outcome)}</td>'
            f'<td class="bar-cell"><div class="bar" style="margin-left:{left:.2f}%;width:{width:.2f}%"></div></td></tr>'
        )
    lines = [
        f'<tr><td class="mono">{escape(str(line.get("timestamp", "")))}</td><td>{escape(service)}</td>'
        f'<td>{escape(str(line.get("level", "")))}</td><td>{escape(str(line.get("message", "")))}</td>'
        f'<td class="mono">{escape(_fields(line))}</td></tr>'
        for service, line in log_lines
    ]
    took = total / 1e6
    header = "<tr><th>time</th><th>service</th><th>level</th><th>message</th><th>fields</th></tr>"
    log_table = (f"<table><thead>{header}</thead><tbody>{''.join(lines)}</tbody></table>" if lines
                 else "<p>None in the services' log files.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trace {escape(trace_id)}</title><style>{STYLE}</style></head>
<body><main>
<h1>Trace <code>{escape(trace_id)}</code></h1>
<p>{len(spans)} spans, {took:.0f} ms. Click a span for its attributes and events; <b>cpu</b> is each SERVER
span's CPU, from its profile (point at it for where it went).
The same trace as JSON: <a href="/api/traces/{escape(trace_id)}">/api/traces/{escape(trace_id)}</a> (Tempo's API).</p>
<table><thead><tr><th>service</th><th>kind</th><th>span</th><th>duration</th><th>cpu</th><th>status</th><th>when</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Log lines of this trace</h2>
{log_table}
</main></body></html>
"""


def _fields(line):
    shown = {key: value for key, value in line.items()
             if key not in ("timestamp", "level", "message", "service", "trace_id", "span_id", "logger")}
    return " ".join(f"{key}={value}" for key, value in shown.items())


def arriving_page(trace_id, spans_so_far):
    """A trace whose spans are still coming in: says so, and reloads itself every second."""
    return _short_page(
        f"Trace {trace_id} is arriving", f"<p>Trace <code>{escape(trace_id)}</code> is arriving: {spans_so_far} "
        f"span{'s' if spans_so_far != 1 else ''} so far. make run shows a trace once its spans have stopped coming "
        "(a few seconds when its caller, such as the traffic generator, sends its own spans later). This page "
        "reloads itself every second until the trace is here.</p>",
        refresh_seconds=1)


def not_seen_page(trace_id):
    """A trace id make run has no span of: not yet sent, or older than what it keeps."""
    return _short_page(
        "No span of this trace",
        f"<p>make run has no span of trace <code>{escape(trace_id)}</code>. A trace arrives a second or two after its "
        f"roll: <a href=\"{escape(trace_id)}\">reload this page</a> in a moment. make run keeps the traces of the last "
        f"{KEEP_SECONDS // 60} minutes, within {MAX_BYTES // 2**20} MiB of them: an older one is gone. The trace ids "
        "are in the page's result and in the terminal.</p>")


def not_a_trace_id_page():
    return _short_page("Not a trace id", "<p>That is not a trace id: a trace id is 32 hexadecimal digits, not all "
                                         "zeros, as the page and the terminal print them.</p>")


def _short_page(title, body, refresh_seconds=None):
    refresh = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if refresh_seconds else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{refresh}<title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><main>\n<h1>{escape(title)}</h1>\n{body}\n</main></body></html>\n")
