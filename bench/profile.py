"""Where a roll's CPU goes: py-spy samples each service's worker while the benchmark's load
runs, and every sample is put down to one layer, by the innermost frame that belongs to a layer
(a `json.dumps` called by the JSON log formatter is logging; a socket write called by urllib3
is the framework's, even inside the requests instrumentation)."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.procfs import children

# Layers, by the innermost frame of a library or of ours (the standard library's frames are
# looked through, but for `logging`: a lock or a socket is the layer's that uses it). A frame: "function (path:line)".
SITE = r"/site-packages/"
LAYERS = [
    ("tracing", re.compile(SITE + r"(opentelemetry|wrapt|google/protobuf|deprecated)/|/ops/telemetry\.py")),
    ("metrics", re.compile(SITE + r"(prometheus_client|django_prometheus)/|/ops/metrics\.py")),
    ("logging", re.compile(SITE + r"pythonjsonlogger/|/ops/logs\.py|/ops/gunicorn_logger\.py|/gunicorn/glogging\.py")),
    ("our middleware", re.compile(r"/ops/(falcon_app|faults)\.py|/frontend_site/(middleware|routes)\.py"
                                  + "|" + SITE + "whitenoise/")),
    # The query: the driver (sqlite3's C code shows as its caller), SQLAlchemy and its pool, our
    # data layer; the floor's bare driver calls.
    ("database", re.compile(SITE + r"(sqlalchemy|psycopg|psycopg_binary)/|/diespec/(database|store)\.py"
                            + r"|/bench/floor/database\.py")),
    ("app", re.compile(r"/(diespec|roller|frontend_site|bench/floor)/|/ops/")),
    ("framework", re.compile(SITE + r"(django|falcon|gunicorn|requests|urllib3|idna|charset_normalizer|certifi)/")),
]
# The SDK's export thread: everything it does (encoding, the HTTP POST through urllib3) is tracing.
EXPORT_THREAD = re.compile(SITE + r"opentelemetry/sdk/(_shared_internal|trace/export)/")
# The one part of the standard library that is a layer of its own: `logging`, whose records,
# handlers and stream writes every log line goes through.
STANDARD_LIBRARY_LOGGING = re.compile(r"/lib/python3\.\d+/logging/")
STANDARD_LIBRARY = re.compile(r"/lib/python3\.\d+/(?!site-packages/)|^<frozen |\(<")
OTHER = "other"
LAYER_NAMES = [name for name, _ in LAYERS] + [OTHER]
RATE = 250  # samples per second
# Installed beside this interpreter by requirements/dev.txt.
PY_SPY = Path(sys.executable).with_name("py-spy")


def available():
    return PY_SPY.exists()


def start(pid, seconds, out):
    """py-spy recording every worker of the gunicorn master `pid` for `seconds`."""
    return [
        subprocess.Popen(
            # Without pausing the worker, and only the thread that holds the GIL: the one running
            # Python code, so that a thread waiting on a socket or a queue is not counted as busy.
            [str(PY_SPY), "record", "--pid", str(worker), "--duration", str(max(1, round(seconds))),
             "--rate", str(RATE), "--format", "raw", "--full-filenames", "--nonblocking", "--gil",
             "--output", str(out.parent / f"{out.name}.{worker}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for worker in children(pid)
    ]


def layer_of(stack):
    """The layer of one sample's stack (root first, frames separated by ';'), or None for a
    stack of the standard library alone: a thread waiting for work (a pool's idle thread)."""
    if EXPORT_THREAD.search(stack):
        return "tracing"
    for frame in reversed(stack.split(";")):
        if STANDARD_LIBRARY_LOGGING.search(frame):
            return "logging"
        if STANDARD_LIBRARY.search(frame):
            continue
        return next((name for name, pattern in LAYERS if pattern.search(frame)), OTHER)
    return None


def shares(files):
    """{layer: share of the samples} over py-spy's raw output files."""
    counts = Counter()
    for path in files:
        for line in Path(path).read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            layer = layer_of(stack) if count.isdigit() else None
            if layer:
                counts[layer] += int(count)
    total = sum(counts.values())
    return {name: round(counts[name] / total, 4) for name in LAYER_NAMES} if total else {}


def wait(recorders):
    for recorder in recorders:
        recorder.wait(timeout=60)


def layer_shares(out):
    """The layer shares of all that was sampled into `out`.*.txt (every turn, every worker)."""
    return shares(sorted(out.parent.glob(out.name + ".*.txt")))
