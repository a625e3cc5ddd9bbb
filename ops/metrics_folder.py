"""The folder where prometheus_client keeps each gunicorn worker's values, so that a scrape
adds up all the workers (multiprocess mode). Prepared once, by gunicorn's master as it starts,
before any worker imports prometheus_client, and removed at exit when it is ours."""

import os
import re
import shutil
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The only files ever removed from a folder the user named: prometheus_client's own
# (counter_1234.db, gauge_livesum_1234.db, ...), which an earlier run left and a scrape would count.
PROMETHEUS_FILE = re.compile(r"(counter|histogram|summary|gauge_(live)?(all|min|max|sum|mostrecent))_\d+\.db")


def prepare(workers, environ=os.environ):
    """The folder the workers write to: the one the user named, cleared of an earlier run's
    files, else with more than one worker a fresh one of ours. Returns ours, or None."""
    named = environ.get(VARIABLE)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            if PROMETHEUS_FILE.fullmatch(path.name) and path.is_file():
                path.unlink()
        return None
    if workers > 1:
        environ[VARIABLE] = tempfile.mkdtemp(prefix="prometheus-multiproc-")
        return environ[VARIABLE]
    return None


def remove(own_folder):
    if own_folder:
        shutil.rmtree(own_folder, ignore_errors=True)
