"""The one gunicorn configuration of the three services, local run and containers alike:

    gunicorn -c ops/gunicorn.conf.py -b 127.0.0.1:8103 'diespec.app:create_app()'

No `preload_app`: each worker imports the app after the fork and so sets up its own
tracer provider (a provider made in the master would be shared, and its export thread lost).
"""

import os
import shutil
import tempfile

# Threads, not processes, wait out a roll's simulated delay: with 32 of them, ten
# concurrent slow rolls never queue behind each other.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
graceful_timeout = 10
# The longest request line gunicorn allows (default 4094): a 5,000-character die name
# reaches the service and gets its JSON 400. Longer lines get gunicorn's own 414.
limit_request_line = 8190
# Three gunicorns run side by side; they would fight over the one default control socket.
control_socket_disable = True

# Error and access logs as JSON lines on stderr, like the apps' own.
logger_class = "ops.gunicorn_logger.JsonLogger"
accesslog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()

# Several workers: prometheus_client must know before any worker imports it that
# values go to shared files. Ours is a fresh directory, removed at exit; one given
# in PROMETHEUS_MULTIPROC_DIR is wiped, since an earlier run's files would be counted.
_own_metrics_dir = None
if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-multiproc-")
elif "PROMETHEUS_MULTIPROC_DIR" in os.environ:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker):
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
