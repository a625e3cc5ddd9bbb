"""The services' log lines as make run's terminal shows them: one short line each, where the
log files keep every JSON line whole (the labs and the trace pages read those).

    12:03:04.123Z dice-roller  ERROR    Die triggered error condition  trace 4bf92f35

By default the trace trees and the lines that say something went wrong: a roll's story is its
tree, its page holds its lines from every service; `make run SHOW=all` or `SHOW=logs` shows
every line, condensed."""

import json

# make run's SHOW (its --show): what the terminal shows, in the words --help says it.
SHOW = {
    "traces": "the trace trees, and the services' warnings and errors",
    "all": "the trace trees, and every line the services write, one short line each",
    "logs": "every line the services write, one short line each, and no trace tree",
}
DEFAULT_SHOW = "traces"
PROBLEMS = {"WARNING", "ERROR", "CRITICAL"}
SERVICE_COLUMN = 12


def shows_trees(show):
    return show != "logs"


def terminal_line(show):
    """A function of a service's line (bytes, as written) that says how the terminal shows it:
    condensed, or None when `show` leaves it to the log file. A line that is not JSON (a
    traceback printed before logging was set up) is shown as it is: it is rare, and it matters."""
    every_line = show != "traces"

    def shown(raw):
        text = raw.decode(errors="replace").rstrip("\n")
        try:
            line = json.loads(text)
        except ValueError:
            return text
        if not isinstance(line, dict):
            return text
        if not every_line and str(line.get("level", "")).upper() not in PROBLEMS:
            return None
        return condensed(line)

    return shown


def condensed(line):
    """time (UTC, as the line says it), service, level, the message's first line, and the first
    8 digits of its trace id: enough to tell the trace apart in the trees above."""
    timestamp = str(line.get("timestamp", ""))
    message = str(line.get("message", "")).strip()
    parts = [timestamp.partition("T")[2] or timestamp, f"{line.get('service', ''):<{SERVICE_COLUMN}}",
             f"{line.get('level', ''):<8}", message.splitlines()[0] if message else ""]
    if line.get("exc_info"):
        parts.append("(its traceback: in the log file)")
    if line.get("trace_id"):
        parts.append(f" trace {str(line['trace_id'])[:8]}")
    return " ".join(parts)
