"""The frontend's error answers: the contract's JSON error (ops/errors.py) plus the trace id."""

from django.http import JsonResponse

from ops.telemetry import current_trace_id


def error_body(kind, **fields):
    return {**kind.body(**fields), "trace_id": current_trace_id()}


def json_error(kind, **fields):
    return JsonResponse(error_body(kind, **fields), status=kind.status)
