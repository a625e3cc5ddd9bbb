"""A trace drawn as text: the tree `make run` prints (terminal.py) and its trace page (page.py)
lay out the same way."""

from ops.profiling import SAMPLE_INTERVAL_MS

# The services' and span names' columns, wider when a trace's names need it.
SERVICE_COLUMN = 12
NAME_COLUMN = 28


def server_spans(spans):
    return [span for span in spans if span.kind == "SERVER"]


def depth_first(spans):
    """[(span, depth)], parents before their children, siblings by start time; a span whose
    parent is not among `spans` is a root."""
    ids = {span.span_id for span in spans}
    children = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: span.start_ns)
    in_order = []

    def visit(span, depth):
        in_order.append((span, depth))
        for child in children.get(span.span_id, []):
            visit(child, depth + 1)

    for root in children.get(None, []):
        visit(root, 0)
    return in_order


def render_trace(trace_id, spans, cpu=None):
    """The trace as an indented tree, parents before children, siblings by start time; under
    each SERVER span in `cpu` ({span id: (ns, top functions) or None}), the CPU it spent."""
    cpu = cpu or {}
    start = min(span.start_ns for span in spans)
    took = (max(span.end_ns for span in spans) - start) / 1e6
    errors = sum(span.status == "ERROR" for span in spans)
    lines = [f"trace {trace_id}  {len(spans)} spans  {took:.0f} ms" + (f"  {errors} ERROR" if errors else "")]
    in_order = depth_first(spans)
    # As wide as the longest indented name, so that the times stay in one column.
    width = max([NAME_COLUMN, *(len("  " * depth + span.name) for span, depth in in_order)])
    service_width = max([SERVICE_COLUMN, *(len(span.service or "") for span, _ in in_order)])

    for span, depth in in_order:
        # When it started (from the trace's start) and how long it took: spans that run at the
        # same time, as a batch's rolls, start together.
        name = f"{'  ' * depth}{span.name}"
        status = span.attributes.get("http.response.status_code", "")
        outcome = status_text(span)
        timing = f"+{(span.start_ns - start) / 1e6:6.1f} {span.seconds * 1000:7.1f} ms"
        error_type = span.attributes.get("error.type")
        outcome += f" error.type={error_type}" if error_type and str(error_type) != str(status) else ""
        service = span.service or ""
        lines.append(f"  {service:<{service_width}} {span.kind:<8} {name:<{width}} {timing}  {outcome}".rstrip())
        if span.span_id in cpu:
            lines.append(f"  {'':<{service_width}} {'':<8} {'  ' * depth}  · cpu  {cpu_summary(cpu[span.span_id])}")
        for event_name, attributes in span.events:  # fault injected, exception
            fields = " ".join(event_fields(attributes))
            lines.append(f"  {'':<{service_width}} {'':<8} {'  ' * depth}  · {event_name}  {fields}".rstrip())
    return "\n".join(lines)


def status_text(span):
    """What a span says of its outcome: its HTTP status, `ERROR` before it when the span failed."""
    status = span.attributes.get("http.response.status_code", "")
    return f"ERROR {status}".strip() if span.status == "ERROR" else str(status)


def event_fields(attributes):
    """An event's attributes as `key=value`, the stack trace left out (it is many lines)."""
    return [f"{key}={value}" for key, value in attributes.items() if key != "exception.stacktrace"]


def cpu_summary(spent):
    """`300 ms: burn_cpu_for_fault 290 ms, sum 10 ms`, or why there is no figure."""
    if spent is None:
        return "its profile has not arrived"
    nanoseconds, functions = spent
    if not nanoseconds:
        return f"no samples (the span waited, or computed for less than {SAMPLE_INTERVAL_MS} ms)"
    top = ", ".join(f"{function} {ns / 1e6:.0f} ms" for function, ns in functions)
    return f"{nanoseconds / 1e6:.0f} ms: {top}"
