"""Dependencies that hang, start late, or are stopped mid-burst: each failure is clean,
bounded in time, and heals by itself. All on real processes."""

import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.stack import Stack
from ops.services import SPANS_PER_ROLL
from runtime.backends.otlp import OtlpReceiver
from tests.helpers import poll_until, scrape, value

pytestmark = pytest.mark.slow


def timed_get(service, path, **params):
    started = time.monotonic()
    response = service.get(path, params=params, timeout=15)
    return response, time.monotonic() - started


def test_frozen_die_service_is_a_503_after_the_timeout_and_heals(start_stack):
    # Deadlines nest (ops/settings.py): the database's budget inside the roller's wait.
    stack = start_stack(DIE_SERVICE_TIMEOUT_SECONDS=1.5, DATABASE_TIMEOUT_SECONDS=1)
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200
    stack.die_service.pause()
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            rolls = [pool.submit(timed_get, stack.roller, "/roll", die="fair") for _ in range(4)]
            through_frontend = pool.submit(timed_get, stack.frontend, "/roll", die="fair")
            assert poll_until(lambda: value(scrape(stack.roller), "http_requests_in_flight") == 5)
            # While rolls wait on the die service, the roller's other routes answer at once.
            for path in ("/", "/healthz", "/metrics"):
                response, seconds = timed_get(stack.roller, path)
                assert response.status_code == 200 and seconds < 0.5, (path, seconds)
            for roll in rolls:
                response, seconds = roll.result()
                assert response.json()["error"] == "die_service_unavailable" and response.status_code == 503
                assert 1.0 <= seconds <= 2.0, seconds
            response, seconds = through_frontend.result()
            assert response.status_code == 503 and response.json()["error"] == "die_service_unavailable"
            assert seconds <= 2.0  # well inside the frontend's own 5 s
    finally:
        stack.die_service.resume()
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200


def test_frozen_roller_is_a_504_at_the_frontend_timeout_and_heals(start_stack):
    stack = start_stack(DICE_ROLLER_TIMEOUT_SECONDS=1.5, DIE_SERVICE_TIMEOUT_SECONDS=1, DATABASE_TIMEOUT_SECONDS=0.5)
    stack.roller.pause()
    try:
        response, seconds = timed_get(stack.frontend, "/roll", die="fair")
        assert response.status_code == 504 and response.json()["error"] == "dice_roller_timeout"
        assert 1.0 <= seconds <= 2.0, seconds
        page, seconds = timed_get(stack.frontend, "/")
        assert page.status_code == 200 and seconds < 0.5
    finally:
        stack.roller.resume()
    assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200


def test_roller_and_frontend_started_before_the_die_service(tmp_path):
    stack = Stack(tmp_path, DIE_LIST_MAX_AGE_SECONDS=1)
    try:
        stack.roller.start()
        stack.frontend.start()
        assert stack.frontend.get("/readyz").status_code == 503
        assert "No dice available yet" in stack.frontend.get("/").text
        response = stack.frontend.get("/roll", params={"die": "fair"})
        assert response.status_code == 503 and response.json()["error"] == "die_service_unavailable"

        stack.die_service.start()
        up = time.monotonic()
        while '<option value="fair"' not in stack.frontend.get("/").text:
            assert time.monotonic() - up < 3.0, "the page did not pick up the dice within the refresh interval"
            time.sleep(0.1)
        assert stack.frontend.get("/readyz").status_code == 200
        assert stack.roller.get("/readyz").status_code == 200
        assert stack.frontend.get("/roll", params={"die": "fair"}).status_code == 200
    finally:
        stack.stop()


@pytest.mark.parametrize("stopped", ["die_service", "roller", "frontend"])
def test_sigterm_mid_burst_finishes_the_rolls_and_exports_their_spans(tmp_path, stopped):
    receiver = OtlpReceiver()
    stack = Stack(
        tmp_path,
        ROLL_MAX_DELAY_SECONDS=1,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        # No export on a schedule during the test: the spans must leave at shutdown.
        OTEL_BSP_SCHEDULE_DELAY=60000,
    ).start()
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            burst = [pool.submit(stack.frontend.get, "/roll", params={"die": "fair"}, timeout=15) for _ in range(10)]
            # Every roll has reached the roller and has its specification: now it waits out its delay.
            assert poll_until(lambda: value(scrape(stack.die_service), "die_specifications_requested_total",
                                        identifier="fair") == 10)
            service = getattr(stack, stopped)
            service.process.send_signal(signal.SIGTERM)
            answers = [future.result() for future in burst]
        assert [answer.status_code for answer in answers] == [200] * 10
        assert service.process.wait(timeout=15) == 0
    finally:
        stack.stop()
        receiver.close()

    trace_ids = {answer.json()["trace_id"] for answer in answers}
    assert all(re.fullmatch(r"[0-9a-f]{32}", trace_id) for trace_id in trace_ids)
    traces = receiver.traces()
    received = {trace_id: len(traces.get(trace_id, [])) for trace_id in trace_ids}
    assert received == dict.fromkeys(trace_ids, SPANS_PER_ROLL)
