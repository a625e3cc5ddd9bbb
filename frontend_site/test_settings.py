"""Settings for the test suite: no network at start-up, a throw-away secret key."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")

from frontend_site.settings import *  # noqa: E402,F403

# pytest-django runs AppConfig.ready() before any fixture exists: switch the fetch off here.
FETCH_DIE_LIST_AT_STARTUP = False
