"""gunicorn's own error and access logs, as JSON lines through `ops.logs`."""

import traceback

from gunicorn import glogging

from ops.logs import configure_logging
from ops.services import service_for_entry_point


def service_name_for(app_uri):
    """gunicorn's master logs before any app is loaded, so it names the service from
    the entry point it is asked to load ('diespec.app:create_app()' -> die-service)."""
    service = service_for_entry_point(app_uri)
    return service.name if service else "unknown"


class JsonLogger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        configure_logging(service_name_for(cfg.default_proc_name))
        # Hand gunicorn's records to the root JSON handler instead of its own.
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def access(self, resp, req, environ, request_time):
        """gunicorn's access line, its fields (its own `atoms`) as JSON fields."""
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        try:
            self.access_log.info(
                "%s %s %s", atoms["m"], atoms["U"], atoms["s"],
                extra={
                    "method": atoms["m"],
                    "path": atoms["U"],
                    "status_code": int(atoms["s"]),
                    "duration_ms": round(atoms["D"] / 1000, 3),
                    "remote_addr": atoms["h"],
                    "user_agent": atoms["a"],
                },
            )
        except Exception:  # as gunicorn's own: a bad line must never break the response
            self.error(traceback.format_exc())
