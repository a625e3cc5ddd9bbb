import threading
import time

import pytest
from opentelemetry.trace import StatusCode

from frontend_site.die_list import DieList
from ops.http_session import create_session


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def die_list_for(die_service, clock, start_in_background=lambda work: work()):
    """By default the "background" refresh runs at once, in the caller's thread."""
    return DieList(
        die_service.url, create_session(), timeout_seconds=1, max_age_seconds=10, clock=clock,
        start_in_background=start_in_background,
    )


def test_list_is_fetched_once_then_again_when_stale(die_service):
    asked_before = len(die_service.requests)
    clock = Clock()
    die_list = die_list_for(die_service, clock)
    assert die_list.identifiers() == ["fair", "risky"]
    die_service.routes["/dice"] = lambda q: (200, {"identifiers": ["fair", "risky", "d8"]})
    clock.now = 5
    assert die_list.identifiers() == ["fair", "risky"]
    clock.now = 11
    assert die_list.identifiers() == ["fair", "risky", "d8"]
    assert len(die_service.requests) - asked_before == 2


def test_failed_fetch_keeps_the_last_list_and_retries_after_max_age(die_service):
    asked_before = len(die_service.requests)
    clock = Clock()
    die_list = die_list_for(die_service, clock)
    die_list.refresh()
    die_service.routes["/dice"] = lambda q: (500, b"")
    clock.now = 11
    assert die_list.identifiers() == ["fair", "risky"]
    clock.now = 15
    die_list.identifiers()
    assert len(die_service.requests) - asked_before == 2


def test_with_no_list_yet_a_failed_fetch_is_tried_again_within_a_second(die_service):
    """The frontend started before the die service answered: the page must not wait max_age for dice."""
    asked_before = len(die_service.requests)
    clock = Clock()
    die_list = die_list_for(die_service, clock)
    die_service.routes["/dice"] = lambda q: (503, {"error": "database_unavailable", "message": "-"})
    assert die_list.identifiers() == []
    clock.now = 0.5
    assert die_list.identifiers() == []  # not on every page load
    die_service.routes["/dice"] = lambda q: (200, {"identifiers": ["fair", "risky"]})
    clock.now = 1.1
    assert die_list.identifiers() == ["fair", "risky"]
    assert len(die_service.requests) - asked_before == 2


def test_a_stale_list_is_answered_at_once_while_one_refresh_runs_in_the_background(die_service):
    release = threading.Event()
    refreshes = []

    def slow_list(query):
        release.wait(5)  # a die service that hangs until the test lets it answer
        return 200, {"identifiers": ["fair", "risky", "d8"]}

    def start_in_thread(work):
        refreshes.append(threading.Thread(target=work))
        refreshes[-1].start()

    clock = Clock()
    die_list = die_list_for(die_service, clock, start_in_background=start_in_thread)
    die_list.refresh()
    die_service.routes["/dice"] = slow_list
    clock.now = 11
    for _ in range(5):  # the die service has not answered: every caller gets the old list
        assert die_list.identifiers() == ["fair", "risky"]
    assert len(refreshes) == 1
    release.set()
    refreshes[0].join(5)
    assert die_list.identifiers() == ["fair", "risky", "d8"]


def test_a_refresh_that_cannot_start_is_tried_again_next_time(die_service, caplog):
    """No thread to be had (the process is at its limit): the next call tries again."""
    attempts = []

    def cannot_start(work):
        attempts.append(work)
        if len(attempts) == 1:
            raise RuntimeError("can't start new thread")
        work()

    clock = Clock()
    die_list = die_list_for(die_service, clock, start_in_background=cannot_start)
    assert die_list.identifiers() == []
    assert die_list.identifiers() == ["fair", "risky"]
    assert len(attempts) == 2
    assert any(record.levelname == "ERROR" and "refresh" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "answer",
    [
        (500, b""),
        (200, {"identifiers": "fair"}),  # not a list
        (200, {"identifiers": ["fair", 7]}),
        (200, {"identifiers": ["fair", "<b>x</b>"]}),
        (200, {"identifiers": None}),
    ],
)
def test_an_unusable_list_is_refused_and_its_fetch_span_is_an_error(die_service, span_exporter, answer):
    die_service.routes["/dice"] = lambda q: answer
    die_list = die_list_for(die_service, Clock())
    die_list.refresh()
    assert die_list.identifiers() == []
    [span] = [s for s in span_exporter.get_finished_spans() if s.name == "fetch die list"]
    assert span.status.status_code is StatusCode.ERROR and span.status.description


def test_a_good_fetch_span_is_unset(die_service, span_exporter):
    die_list_for(die_service, Clock()).refresh()
    [span] = [s for s in span_exporter.get_finished_spans() if s.name == "fetch die list"]
    assert span.status.status_code is StatusCode.UNSET


def test_the_page_asks_for_the_list_the_die_service_has_now(die_service):
    """A lab's `stop` removed its dice: the next page must not offer them (the rolls' list may wait)."""
    clock = Clock()
    die_list = die_list_for(die_service, clock)
    die_list.refresh()
    die_service.routes["/dice"] = lambda q: (200, {"identifiers": ["fair"]})
    clock.now = 3  # well within max_age
    assert die_list.identifiers() == ["fair", "risky"]  # a roll's label: the list it has, at once
    assert die_list.identifiers(fresh=True) == ["fair"]


def test_the_page_waits_for_its_fetch_at_most_the_fetchs_timeout(die_service):
    release = threading.Event()

    def hanging(query):
        release.wait(5)
        return 200, {"identifiers": ["fair"]}

    def start_in_thread(work):
        threading.Thread(target=work).start()

    die_list = die_list_for(die_service, Clock(), start_in_background=start_in_thread)
    die_list.refresh()
    die_service.routes["/dice"] = hanging
    started = time.monotonic()
    assert die_list.identifiers(fresh=True) == ["fair", "risky"]  # the die service hangs: the list it had
    assert 0.9 <= time.monotonic() - started < 3  # its timeout is 1 s
    release.set()


def test_after_a_failed_fetch_the_page_does_not_ask_again_before_the_retry(die_service):
    """A die service that is down is not asked (and waited for) on every page load."""
    asked_before = len(die_service.requests)
    clock = Clock()
    die_list = die_list_for(die_service, clock)
    die_list.refresh()
    die_service.routes["/dice"] = lambda q: (503, {"error": "database_unavailable", "message": "-"})
    clock.now = 1
    assert die_list.identifiers(fresh=True) == ["fair", "risky"]  # asked, failed: the last list
    clock.now = 2
    assert die_list.identifiers(fresh=True) == ["fair", "risky"]  # not asked again
    assert len(die_service.requests) - asked_before == 2
