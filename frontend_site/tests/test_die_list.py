from frontend_site.die_list import DieList
from ops.http_session import create_session


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_list_is_fetched_once_then_again_when_stale(die_service):
    clock = Clock()
    die_list = DieList(die_service.url, create_session(), timeout_seconds=1, max_age_seconds=10, clock=clock)
    assert die_list.identifiers() == ["fair", "risky"]
    die_service.routes["/dice"] = lambda q: (200, {"identifiers": ["fair", "risky", "d8"]})
    clock.now = 5
    assert die_list.identifiers() == ["fair", "risky"]
    clock.now = 11
    assert die_list.identifiers() == ["fair", "risky", "d8"]
    assert len(die_service.requests) == 2


def test_failed_fetch_keeps_the_last_list_and_retries_after_max_age(die_service):
    clock = Clock()
    die_list = DieList(die_service.url, create_session(), timeout_seconds=1, max_age_seconds=10, clock=clock)
    die_list.refresh()
    die_service.routes["/dice"] = lambda q: (500, b"")
    clock.now = 11
    assert die_list.identifiers() == ["fair", "risky"]
    clock.now = 15
    die_list.identifiers()
    assert len(die_service.requests) == 2
