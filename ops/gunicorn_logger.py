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
        """gunicorn's access line, its fields as JSON fields. They are read straight from the
        request, not through gunicorn's `atoms` (some thirty values and every header and
        environ entry for each request: a fifth of the line's cost, for six fields)."""
        if not self.access_log_enabled:
            return
        try:
            method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            status = str(resp.status).split(None, 1)[0]  # "200 OK" -> "200", as gunicorn's atoms
            self.access_log.info(
                "%s %s %s", method, path, status,
                extra={
                    "method": method,
                    "path": path,
                    "status_code": int(status),
                    "duration_ms": round(request_time.total_seconds() * 1000, 3),
                    "remote_addr": environ.get("REMOTE_ADDR", "-"),
                    "user_agent": environ.get("HTTP_USER_AGENT", "-"),
                },
            )
        except Exception:  # as gunicorn's own: a bad line must never break the response
            self.error(traceback.format_exc())
