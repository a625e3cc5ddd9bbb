import pytest
from django.apps import apps

from frontend_site.die_list import DieList
from tests.helpers import FakeService


@pytest.fixture
def die_service():
    fake = FakeService()
    fake.routes["/dice"] = lambda query: (200, {"identifiers": ["fair", "risky"]})
    yield fake
    fake.close()


@pytest.fixture
def roller(settings):
    fake = FakeService()
    settings.DICE_ROLLER_URL = fake.url
    settings.DICE_ROLLER_TIMEOUT_SECONDS = 0.5
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def die_list(die_service):
    """Every test's frontend asks the fake die service for its dice."""
    frontend = apps.get_app_config("frontend_site")
    original = frontend.die_list
    frontend.die_list = DieList(die_service.url, frontend.http, timeout_seconds=0.5, max_age_seconds=60)
    frontend.die_list.refresh()  # as at start-up: requests never fetch it themselves
    yield frontend.die_list
    frontend.die_list = original
