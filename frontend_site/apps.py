from django.apps import AppConfig
from django.conf import settings

from frontend_site.die_list import DieList
from ops.faults import FaultInjector
from ops.http_session import create_session
from ops.services import FRONTEND


class FrontendConfig(AppConfig):
    """Holds what the views share in a process: one HTTP session, the die list and the
    fault injector."""

    name = "frontend_site"
    label = "frontend_site"

    def ready(self):
        self.http = create_session(pool_size=settings.HTTP_POOL_SIZE)
        self.faults = FaultInjector(FRONTEND.otel_name(), enabled=settings.FAULT_INJECTION)
        self.die_list = DieList(
            settings.DIE_SERVICE_URL,
            self.http,
            timeout_seconds=settings.DIE_LIST_TIMEOUT_SECONDS,
            max_age_seconds=settings.DIE_LIST_MAX_AGE_SECONDS,
        )
        # Cheap and never fatal (a short timeout, errors logged), so that it may run
        # twice under runserver's autoreloader; the test settings switch it off.
        if settings.FETCH_DIE_LIST_AT_STARTUP:
            self.die_list.refresh()
