"""make run's logs as files: each service's JSON lines in <logs folder>/<service>.log, this run's
alone. make run writes them; its trace pages and the labs read them, as Loki is read under compose."""

import json
from pathlib import Path


def log_file(logs_dir, service_name):
    return Path(logs_dir) / f"{service_name}.log"


def json_lines(path, containing):
    """The JSON lines of the file at `path` that contain `containing` (a trace id), decoded;
    [] when there is no such file yet."""
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            for text in log:
                if containing in text and text.startswith("{"):
                    try:
                        found.append(json.loads(text))
                    except ValueError:
                        continue
    except FileNotFoundError:
        pass
    return found


def trace_log_lines(logs_dir, trace_id):
    """[(service, line)] of the lines in every log file of `logs_dir` that carry `trace_id`, in time order."""
    found = [(path.stem, line) for path in sorted(Path(logs_dir).glob("*.log"))
             for line in json_lines(path, trace_id) if line.get("trace_id") == trace_id]
    return sorted(found, key=lambda item: str(item[1].get("timestamp", "")))
