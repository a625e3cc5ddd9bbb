"""The one gunicorn configuration of the three services, local run and containers alike:

    gunicorn -c ops/gunicorn.conf.py -b 127.0.0.1:8103 'diespec.app:create_app()'

No `preload_app`: each worker imports the app after the fork and so sets up its own
tracer provider (a provider made in the master would be shared, and its export thread lost).
"""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

# The `gunicorn` script does not put the project on sys.path before it reads this file.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.settings import SettingError, read  # noqa: E402

try:
    workers = read("WEB_CONCURRENCY")
    threads = read("GUNICORN_THREADS")
except SettingError as error:
    # gunicorn has no logging yet: a plain line, and it exits non-zero before any worker.
    raise SystemExit(f"Cannot start: {error}") from None

# Threads wait out a roll's simulated delay: with the default 128 per worker, 100 users
# rolling at once never queue behind a thread count (README "Concurrency").
worker_class = "gthread"
graceful_timeout = 10
# The longest request line gunicorn allows (default 4094): a 5,000-character die name
# reaches the service and gets its JSON 400. Longer lines get gunicorn's own 414.
limit_request_line = 8190
# Three gunicorns run side by side; they would fight over the one default control socket.
control_socket_disable = True

# Error and access logs as JSON lines on stderr, like the apps' own. LOG_LEVEL is checked
# with the app's settings (on_starting), so that a bad one is told in a JSON line.
logger_class = "ops.gunicorn_logger.JsonLogger"
accesslog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()

# Several workers: prometheus_client must know before any worker imports it that values
# go to shared files. Ours is a fresh directory, removed at exit. In one the user names,
# only the files prometheus_client writes (counter_1234.db, gauge_livesum_1234.db, ...)
# are removed, since an earlier run's would be counted; nothing else there is touched.
PROMETHEUS_FILE = re.compile(r"(counter|histogram|summary|gauge_(live)?(all|min|max|sum|mostrecent))_\d+\.db")
_own_metrics_dir = None
if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-multiproc-")
elif "PROMETHEUS_MULTIPROC_DIR" in os.environ:
    _named_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    _named_dir.mkdir(parents=True, exist_ok=True)
    for _path in _named_dir.iterdir():
        if PROMETHEUS_FILE.fullmatch(_path.name) and _path.is_file():
            _path.unlink()


def on_starting(server):
    """Every setting the app reads, checked before any worker boots: one CRITICAL line
    and exit code 4 for a bad one, instead of workers failing and restarting forever."""
    from ops.startup import check_settings_of

    check_settings_of(server.app.app_uri)


def child_exit(server, worker):
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
