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
