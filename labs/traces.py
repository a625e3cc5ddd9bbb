"""Reading a trace's time: what the labs and the stack check's learner ask of its spans
(backend_apis/spans.py), read from Tempo under compose and from make run's alike."""


def own_ms(span, spans):
    """The time a span spent itself, outside its children (which may overlap each other)."""
    children = sorted((child.start_ns, child.end_ns) for child in spans if child.parent_span_id == span.span_id)
    covered, reach = 0, span.start_ns
    for start, end in children:
        start, end = max(start, reach), min(end, span.end_ns)
        if end > start:
            covered += end - start
            reach = end
    return (span.end_ns - span.start_ns - covered) / 1e6


def trace_ms(spans):
    return (max(span.end_ns for span in spans) - min(span.start_ns for span in spans)) / 1e6


def server_own_ms(service, spans):
    """The time `service`'s SERVER span (the hop) spent itself, outside its children (its `roll
    die` span, the roll's own wait, is a child)."""
    return sum(own_ms(span, spans) for span in spans if span.service == service and span.kind == "SERVER")


def slowest_hop(spans):
    """(the SERVER span with the most time of its own, that time in ms), or (None, 0)."""
    servers = [span for span in spans if span.kind == "SERVER"]
    if not servers:
        return None, 0
    hop = max(servers, key=lambda span: own_ms(span, spans))
    return hop, own_ms(hop, spans)
