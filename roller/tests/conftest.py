import pytest
from opentelemetry.instrumentation.falcon import FalconInstrumentor

from roller.tests import fakes  # noqa: F401  imports falcon.testing before the instrumentor swaps falcon.App


@pytest.fixture
def instrumented(span_exporter):
    """The spans of the requests a test makes, with Falcon instrumented for the test alone."""
    instrumentor = FalconInstrumentor()
    instrumentor.instrument()
    yield span_exporter
    instrumentor.uninstrument()
