"""Tempo's HTTP API as data: where it listens, a trace as /api/traces/<id> answers it (OTLP's
JSON mapping under `batches`, ids in base64, int64 values as strings), and that answer read back
into spans. make run's Tempo (runtime/backends/tempo.py) writes it; the labs and the stack
check read it, from Tempo under compose alike."""

import base64
import re

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from backend_apis.spans import spans_of_resource_spans

# Tempo's own port, where the labs ask under compose and make run serves its stand-in.
TEMPO_PORT = 3200
TRACES_PATH = "/api/traces/"
SEARCH_PATH = "/api/search"
HEX_ID = re.compile(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}")
ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def trace_json(resource_spans):
    """Tempo's /api/traces answer for a trace's ResourceSpans messages."""
    batches = json_format.MessageToDict(TracesData(resource_spans=resource_spans))
    return {"batches": batches.get("resourceSpans", [])}


def spans_of(answer):
    """[Span] of a Tempo /api/traces answer (None or {} give []): `batches` as Tempo writes
    them, or OTLP's own `resourceSpans`; scopes under their old name too; ids in base64 as
    protobuf's JSON has them, or in hex as some clients write them."""
    batches = (answer or {}).get("batches") or (answer or {}).get("resourceSpans") or []
    for batch in batches:
        if "instrumentationLibrarySpans" in batch:
            batch["scopeSpans"] = batch.pop("instrumentationLibrarySpans")
        for scope in batch.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for name in ID_FIELDS:
                    if HEX_ID.fullmatch(span.get(name, "")):
                        span[name] = base64.b64encode(bytes.fromhex(span[name])).decode()
    data = json_format.ParseDict({"resourceSpans": batches}, TracesData(), ignore_unknown_fields=True)
    return spans_of_resource_spans(data.resource_spans)
