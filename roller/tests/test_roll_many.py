"""GET /roll-async: many rolls of one die at once, their answers and their spans."""

import threading
import time

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from roller.die_client import DieServiceBadResponse, DieServiceUnavailable
from roller.tests.fakes import DICE, FakeDieService, FirstDrawFails, client_for
from tests.spans import assert_server_span, exception_events, only_span


def roll_many(client, query):
    return client.simulate_get("/roll-async", query_string=query)


def test_a_batch_answers_every_roll_and_their_total():
    die_service = FakeDieService()
    response = roll_many(client_for(die_service), "die=fair&times=7")
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"die", "count", "rolls", "total"}
    assert body["die"] == "fair" and body["count"] == 7 and len(body["rolls"]) == 7
    assert all(roll in DICE["fair"].faces for roll in body["rolls"]) and body["total"] == sum(body["rolls"])
    assert die_service.asked == ["fair"]  # the specification once, not once per roll


def test_the_rolls_run_at_the_same_time():
    """Each roll waits at a barrier that opens only when all five are waiting: rolled one
    after the other, the first would wait forever (here: the barrier's timeout, a 500)."""
    barrier = threading.Barrier(5, timeout=5)

    def sleep(seconds):
        barrier.wait()

    response = roll_many(client_for(FakeDieService(), sleep=sleep, roll_threads=5), "die=fair&times=5")
    assert response.status_code == 200 and response.json["count"] == 5


def test_one_failed_roll_fails_the_batch_after_every_roll_ran():
    rolled = []

    def sleep(seconds):
        rolled.append(seconds)

    client = client_for(FakeDieService(), rng=FirstDrawFails(), sleep=sleep)
    response = roll_many(client, "die=risky&times=6")
    assert response.status_code == 500
    assert response.json == {
        "error": "die_failed", "message": "1 of 6 dice fell off the table (a simulated failure).", "failed": 1}
    assert len(rolled) == 6


@pytest.mark.parametrize(
    "query, code",
    [
        ("die=fair", "missing_parameter"),
        ("die=fair&times=", "missing_parameter"),
        ("die=fair&times=0", "invalid_times"),
        ("die=fair&times=21", "invalid_times"),
        ("die=fair&times=-3", "invalid_times"),
        ("die=fair&times=+3", "invalid_times"),
        ("die=fair&times=03", "invalid_times"),
        ("die=fair&times=3.0", "invalid_times"),
        ("die=fair&times=%203", "invalid_times"),
        ("die=fair&times=%D9%A3", "invalid_times"),  # an Arabic-Indic three, which int() takes
        ("die=fair&times=1e1", "invalid_times"),
        ("die=fair&times=3&times=4", "invalid_times"),
        ("die=fair&times=%3Cscript%3E", "invalid_times"),
        ("times=3", "missing_parameter"),
        ("die=bad$$&times=3", "invalid_identifier"),
    ],
)
def test_bad_parameters_are_400_never_echoed_and_never_reach_the_die_service(query, code):
    die_service = FakeDieService()
    response = roll_many(client_for(die_service), query)
    assert response.status_code == 400 and response.json["error"] == code
    assert "<script>" not in response.text and "3.0" not in response.text and "1e1" not in response.text
    assert die_service.asked == []


@pytest.mark.parametrize(
    "die, failure, status, code",
    [
        ("loaded", None, 404, "unknown_die"),
        ("fair", DieServiceUnavailable("timeout"), 503, "die_service_unavailable"),
        ("fair", DieServiceBadResponse("status 500"), 502, "bad_gateway"),
    ],
)
def test_the_die_s_own_errors_answer_as_for_one_roll(die, failure, status, code):
    client = client_for(FakeDieService(failure))
    batch = roll_many(client, f"die={die}&times=3")
    single = client.simulate_get("/roll", params={"die": die})
    assert batch.status_code == single.status_code == status
    assert batch.json == single.json and batch.json["error"] == code


def roll_spans(exporter):
    return sorted(
        (span for span in exporter.get_finished_spans() if span.kind is SpanKind.INTERNAL),
        key=lambda span: span.attributes["die.roll_index"],
    )


def test_a_batch_is_one_server_span_over_one_child_per_roll(instrumented):
    response = roll_many(client_for(FakeDieService()), "die=fair&times=4")
    server, rolls = only_span(instrumented), roll_spans(instrumented)
    assert_server_span(server, "GET /roll-async", 200, "/roll-async")
    assert server.attributes["die.type"] == "fair" and server.attributes["die.count"] == 4
    assert server.attributes["die.total"] == response.json["total"] and server.attributes["die.error"] is False
    assert [span.name for span in rolls] == ["roll die"] * 4
    assert [span.attributes["die.roll_index"] for span in rolls] == [0, 1, 2, 3]
    assert [span.attributes["die.result"] for span in rolls] == response.json["rolls"]
    for span in rolls:  # children of the request's span, though rolled on other threads
        assert span.parent.span_id == server.context.span_id and span.context.trace_id == server.context.trace_id
        assert span.attributes["die.type"] == "fair" and span.attributes["die.error"] is False
        assert span.status.status_code is StatusCode.UNSET


def test_a_failed_roll_is_its_own_red_child_and_turns_the_batch_red(instrumented):
    roll_many(client_for(FakeDieService(), rng=FirstDrawFails()), "die=risky&times=3")
    server, rolls = only_span(instrumented), roll_spans(instrumented)
    assert_server_span(server, "GET /roll-async", 500, "/roll-async")
    assert server.attributes["die.error"] is True and "die.total" not in server.attributes
    assert [event.attributes["exception.type"] for event in exception_events(server)] == ["roller.dice.DieFailed"]
    failed = [span for span in rolls if span.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1 and len(exception_events(failed[0])) == 1
    assert failed[0].attributes["die.error"] is True and "die.result" not in failed[0].attributes
    assert sum(span.attributes["die.error"] is False and "die.result" in span.attributes for span in rolls) == 2


def test_bad_times_is_a_400_server_span_with_no_roll(instrumented):
    roll_many(client_for(FakeDieService()), "die=fair&times=99")
    assert_server_span(only_span(instrumented), "GET /roll-async", 400, "/roll-async")
    assert [span.kind for span in instrumented.get_finished_spans()] == [SpanKind.SERVER]


def test_six_hundred_rolls_at_once_run_on_the_pool_s_threads_only():
    """Thirty batches of twenty arrive together: 600 rolls, never more than the pool's 8 at a
    time, and never on more than 8 threads."""
    lock, running, peak, threads = threading.Lock(), [0], [0], set()

    def sleep(seconds):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.add(threading.get_ident())
        time.sleep(0.002)
        with lock:
            running[0] -= 1

    client = client_for(FakeDieService(), sleep=sleep, roll_threads=8)
    answers = []
    callers = [
        threading.Thread(target=lambda: answers.append(roll_many(client, "die=fair&times=20").status_code))
        for _ in range(30)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    assert answers == [200] * 30
    assert 2 <= peak[0] <= 8 and len(threads) <= 8


def test_a_busy_pool_does_not_hold_up_single_rolls():
    """A batch holds both roll threads; a /roll meanwhile is answered at once."""
    release = threading.Event()

    def sleep(seconds):
        if threading.current_thread().name.startswith("test-roll"):
            release.wait(10)

    client = client_for(FakeDieService(), sleep=sleep, roll_threads=2)
    batch = threading.Thread(target=lambda: roll_many(client, "die=fair&times=4"))
    batch.start()
    try:
        assert client.simulate_get("/roll", params={"die": "fair"}).status_code == 200
        assert batch.is_alive()  # still waiting on its rolls
    finally:
        release.set()
        batch.join(timeout=10)
