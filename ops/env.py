"""Reading the environment, with a clear message when a value is unusable."""

import os


def env_float(name, default, minimum=0.0):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or value != value or value < minimum:
        raise SystemExit(f"{name}={raw!r} is not a number >= {minimum}")
    return value


def env_url(name, default):
    return os.environ.get(name, default).rstrip("/")
