"""One name per service, read in one place: spans, log lines and the fault key agree."""

import logging
from unittest import mock

import pytest

from ops.faults import FaultInjector, baggage_key
from ops.logs import ServiceContextFilter
from ops.services import DIE_SERVICE
from ops.telemetry import create_tracer_provider


@pytest.mark.parametrize("variable, name", [(None, "die-service"), ("", "die-service"), ("dice-box", "dice-box")])
def test_spans_logs_and_faults_use_the_same_name(variable, name):
    environ = {} if variable is None else {"OTEL_SERVICE_NAME": variable}
    with mock.patch.dict("os.environ", environ, clear=False) as env:
        if variable is None:
            env.pop("OTEL_SERVICE_NAME", None)
        provider = create_tracer_provider(DIE_SERVICE.name)
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        ServiceContextFilter(DIE_SERVICE.otel_name()).filter(record)
        injector = FaultInjector(DIE_SERVICE.otel_name(), enabled=True)
    provider.shutdown()
    assert provider.resource.attributes["service.name"] == name  # "" once made unknown_service:python
    assert record.service == name
    assert injector.service_name == name and baggage_key(injector.service_name) == f"fault.{name}"
