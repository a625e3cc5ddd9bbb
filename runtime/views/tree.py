"""A trace drawn as text: the tree `make run` prints (terminal.py) and its trace page (page.py)
lay out the same way."""

import math
from dataclasses import dataclass

from ops.profiling import SAMPLE_INTERVAL_MS

# The services' and span names' columns, wider when a trace's names need it.
SERVICE_COLUMN = 12
NAME_COLUMN = 28


# What is known of a SERVER span's CPU (SpanCpu.state).
SAMPLED = "sampled"  # all of its samples have arrived (none, maybe)
PENDING = "pending"  # its profile is on its way
UNPROFILED = "unprofiled"  # no agent ran in its process (runserver; PYROSCOPE_SERVER_ADDRESS unset)
NO_PROFILE = "no profile"  # its process has an agent that has sent nothing at all


@dataclass(frozen=True)
class SpanCpu:
    """A SERVER span's CPU as its samples say: `nanoseconds` in `functions` ([(function, ns)],
    most first), of a span that ran `span_ns`; `pid`, its process."""

    state: str
    nanoseconds: int = 0
    functions: tuple = ()
    span_ns: int = 0
    pid: object = None

    @property
    def resolved(self):
        return self.state != PENDING

    @property
    def over_counted(self):
        """Whether its samples say more than the span's own time plus one sampling step, which a
        thread cannot compute: samples are taken at random moments (docs/telemetry.md, "How close
        a figure is"), and back to back when the sampler catches up after it was held up."""
        return self.nanoseconds > self.span_ns + SAMPLE_INTERVAL_MS * 1_000_000


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
    each SERVER span in `cpu` ({span id: SpanCpu}), the CPU it spent."""
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


def cpu_summary(cpu):
    """`300 ms: burn_cpu_for_fault 290 ms, sum 10 ms`, or why there is no figure (a SpanCpu)."""
    if cpu.state == PENDING:
        return "its profile has not arrived"
    if cpu.state == UNPROFILED:
        return "not profiled (no Pyroscope agent ran in its process, as under runserver)"
    if cpu.state == NO_PROFILE:
        return f"no profile: its process (pid {cpu.pid}) has sent none (is its Pyroscope agent sending?)"
    if not cpu.nanoseconds:
        return f"no samples (the span waited, or computed for less than {SAMPLE_INTERVAL_MS} ms)"
    if cpu.over_counted:
        return (f"{math.ceil(cpu.span_ns / 1e6)} ms at most (sampled {cpu.nanoseconds / 1e6:.0f} ms, more than it "
                f"ran); on top: {cpu.functions[0][0]}")
    top = ", ".join(f"{function} {ns / 1e6:.0f} ms" for function, ns in cpu.functions)
    return f"{cpu.nanoseconds / 1e6:.0f} ms: {top}"


def cpu_figure(cpu):
    """The same in a word or two, for the trace page's waterfall."""
    if cpu.state != SAMPLED:
        return {PENDING: "arriving", UNPROFILED: "not profiled", NO_PROFILE: "no profile"}[cpu.state]
    if not cpu.nanoseconds:
        return "no samples"
    if cpu.over_counted:
        return f"≤ {math.ceil(cpu.span_ns / 1e6)} ms"
    return f"{cpu.nanoseconds / 1e6:.0f} ms"
