"""`make run` (python -m runtime): the three services as local processes, and a local backend
for their telemetry, on loopback. Its rooms:

- launcher/  make run itself: starting, watching and stopping the services, its run file
             (var/run.json), make freeze|resume|reload, make runserver;
- backends/  the stand-ins for the backends: an OTLP receiver, Tempo's and Pyroscope's APIs,
             on one small HTTP server that limits what it takes;
- views/     a trace as the learner reads it: the terminal's tree and the trace page, and the
             services' log lines as the terminal shows them.

The tests and the benchmark start the same processes through harness/, beside it."""

from pathlib import Path

# The checkout: where gunicorn runs, and what every relative path of the project starts from.
REPO = Path(__file__).resolve().parent.parent
