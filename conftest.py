"""Shared by every test. In-process tests run without tracing unless a test sets up its
own; the cross-service tests in tests/ start real processes with the environment they need."""

import os
from unittest import mock

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harness.postgres import PostgresServer
from ops.telemetry import use_stable_semantic_conventions

os.environ.setdefault("OTEL_SDK_DISABLED", "true")
# As the services do: the instrumentations read it once per process.
use_stable_semantic_conventions()


@pytest.fixture(scope="session")
def _in_memory_exporter():
    """One tracer provider for the test process (a global can be set only once)."""
    exporter = InMemorySpanExporter()
    with mock.patch.dict(os.environ, {"OTEL_SDK_DISABLED": "false"}):  # read by the provider
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def span_exporter(_in_memory_exporter):
    """The spans finished during this test, in memory, as the OpenTelemetry contrib tests read them.
    The test instruments what it needs (after importing falcon.testing, for Falcon)."""
    _in_memory_exporter.clear()
    yield _in_memory_exporter
    _in_memory_exporter.clear()


@pytest.fixture(scope="session")
def postgres_server():
    """One throw-away PostgreSQL for the whole run (harness/postgres.py), removed at the end.
    A test that stops or freezes it starts or resumes it again before it ends."""
    server = PostgresServer().start()
    yield server
    server.stop()


# The files whose tests read the run's shared stacks (tests/conftest.py shared_stacks). make test's
# pytest-xdist workers take them as one file (below), so that each of those stacks starts once in
# a run rather than once on each worker. A file missing here costs CPU, never a failure.
SHARED_STACK_FILES = {
    "tests/test_bad_input.py", "tests/test_openapi.py", "tests/test_prometheus_stack.py",
    "tests/test_secure_defaults.py", "tests/test_services.py", "tests/test_telemetry_modes.py",
    "tests/test_traffic.py",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile (make test): each test file goes to one worker whole, so that its
    module-scoped stacks start once, and SHARED_STACK_FILES go together. (pytest-xdist's own
    --dist loadgroup would read xdist_group marks instead, but under pytest 9.2 it silently
    stops grouping: pytest-xdist issue 1386.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedStackFiles(LoadFileScheduling):
        def _split_scope(self, nodeid):
            file = super()._split_scope(nodeid)
            return "the shared stacks' files" if file in SHARED_STACK_FILES else file

    return SharedStackFiles(config, log)
