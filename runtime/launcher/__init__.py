"""make run itself: the services started, watched and stopped (run.py), each a gunicorn in a
process group of its own (gunicorn.py), the run file that tells the labs, the traffic generator
and make freeze where everything is (run_file.py), the control commands (control.py), the
local backend its services send their telemetry to (telemetry.py), and runserver (runserver.py)."""
