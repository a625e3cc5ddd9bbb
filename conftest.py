"""Shared by every test. In-process tests run without tracing; the cross-service tests
in tests/ start real processes with the environment they need."""

import os

os.environ.setdefault("OTEL_SDK_DISABLED", "true")
