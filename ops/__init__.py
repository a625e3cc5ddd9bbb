"""Plumbing shared by the three services: logs, traces, metrics and gunicorn."""

# One version for the three services: shown at `/` and as `service.version` in traces.
VERSION = "1.0.0"
