"""`make run`: the three services on their local ports with gunicorn, exactly as the
containers run them.

    python -m runtime        (Ctrl-C stops all three)
"""

import os
import secrets
import signal
import subprocess
import sys
import time

from ops.services import SERVICES
from runtime.processes import REPO, gunicorn_command


def main():
    os.chdir(REPO)
    env = dict(os.environ)
    # A fresh key per run: the frontend refuses to start without one when DEBUG is off.
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(32))
    processes = [
        subprocess.Popen(
            gunicorn_command(service.entry_point, f"127.0.0.1:{service.local_port}"),
            env={**env, "OTEL_SERVICE_NAME": service.name},
        )
        for service in SERVICES
    ]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        "Dice sandbox: page http://127.0.0.1:8105, dice roller http://127.0.0.1:8104, "
        "die service http://127.0.0.1:8103. Ctrl-C stops all three.",
        file=sys.stderr,
    )
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("A service stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
