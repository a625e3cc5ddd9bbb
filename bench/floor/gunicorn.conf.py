"""gunicorn for the floor's three apps: the services' threaded worker, and nothing else
(no JSON logger, no access log, no hooks)."""

from ops.settings import read_or_default

worker_class = "gthread"
workers = read_or_default("WEB_CONCURRENCY")
threads = read_or_default("GUNICORN_THREADS")
control_socket_disable = True
