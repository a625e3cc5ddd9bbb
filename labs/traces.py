"""Reading a trace as Tempo's /api/traces gives it (OTLP JSON: `batches` or `resourceSpans`,
ids in base64, int64 values as strings): the same answer from Tempo under compose and from
make run's own (runtime/tempo_api.py)."""

import base64
from dataclasses import dataclass, field


@dataclass
class Span:
    service: str
    span_id: str  # hex
    parent_id: str  # hex, "" for a root
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL...
    start_ns: int
    end_ns: int
    status: str  # UNSET, OK, ERROR
    attributes: dict = field(default_factory=dict)
    events: list = field(default_factory=list)  # [(name, attributes)]

    @property
    def ms(self):
        return (self.end_ns - self.start_ns) / 1e6


def spans_of(trace):
    """[Span] of a Tempo /api/traces answer (None or {} give [])."""
    found = []
    for batch in (trace or {}).get("batches") or (trace or {}).get("resourceSpans") or []:
        resource = _attributes(batch.get("resource", {}).get("attributes", []))
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            for span in scope.get("spans", []):
                found.append(Span(
                    service=resource.get("service.name", ""),
                    span_id=_hex(span.get("spanId", "")),
                    parent_id=_hex(span.get("parentSpanId", "")),
                    name=span.get("name", ""),
                    kind=span.get("kind", "").removeprefix("SPAN_KIND_"),
                    start_ns=int(span.get("startTimeUnixNano", 0)),
                    end_ns=int(span.get("endTimeUnixNano", 0)),
                    status=(span.get("status") or {}).get("code", "STATUS_CODE_UNSET").removeprefix("STATUS_CODE_"),
                    attributes=_attributes(span.get("attributes", [])),
                    events=[(event.get("name"), _attributes(event.get("attributes", [])))
                            for event in span.get("events", [])],
                ))
    return found


def own_ms(span, spans):
    """The time a span spent itself, outside its children (which may overlap each other)."""
    children = sorted((child.start_ns, child.end_ns) for child in spans if child.parent_id == span.span_id)
    covered, reach = 0, span.start_ns
    for start, end in children:
        start, end = max(start, reach), min(end, span.end_ns)
        if end > start:
            covered += end - start
            reach = end
    return (span.end_ns - span.start_ns - covered) / 1e6


def _hex(value):
    """A span or trace id: Tempo writes base64 (protobuf's JSON for bytes); hex is taken as it is."""
    if not value:
        return ""
    if len(value) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    return base64.b64decode(value).hex()


def _attributes(key_values):
    return {item["key"]: _value(item.get("value", {})) for item in key_values}


def _value(any_value):
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "arrayValue" in any_value:
        return [_value(item) for item in any_value["arrayValue"].get("values", [])]
    for kind in ("stringValue", "boolValue", "doubleValue"):
        if kind in any_value:
            return any_value[kind]
    return None
