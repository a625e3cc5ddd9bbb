"""Every environment variable the services and gunicorn read: its default, and what a good
value looks like. A value is read through its Setting, so a bad one is caught at start with
one message naming the variable, the value and what is expected (ops/startup.py says it)."""

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ops.services import DICE_ROLLER, DIE_SERVICE

PROJECT = Path(__file__).resolve().parent.parent


class SettingError(Exception):
    def __init__(self, name, raw, expected, secret=False):
        # A secret's value is never repeated: a database URL may hold a password.
        shown = "(value not shown)" if secret else repr(raw)
        super().__init__(f"{name}={shown} cannot be used: expected {expected}")
        self.name = name


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], object]  # raises ValueError for an unusable value
    expected: str
    secret: bool = False

    def read(self, environ=None):
        environ = os.environ if environ is None else environ
        raw = environ.get(self.name, "")
        try:
            return self.parse(raw.strip() or self.default)
        except ValueError:
            raise SettingError(self.name, raw, self.expected, self.secret) from None


@dataclass(frozen=True)
class SecretKey(Setting):
    """Django's secret key: any text, but required unless DJANGO_DEBUG is on (then a
    development key stands in)."""

    development_key: str = "dev-only-insecure-key"

    def read(self, environ=None):
        key = super().read(environ)
        if key:
            return key
        if SETTINGS["DJANGO_DEBUG"].read(environ):
            return self.development_key
        raise SettingError(self.name, "", self.expected)


def number(low, high, low_included=True):
    def parse(raw):
        value = float(raw)
        if not math.isfinite(value) or not (low <= value if low_included else low < value) or value > high:
            raise ValueError(raw)
        return value

    return parse


def whole_number(low, high):
    def parse(raw):
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def http_url(raw):
    """http(s)://host[:port], nothing more; returned without a trailing slash."""
    url = urlsplit(raw)
    port = url.port  # raises ValueError when it is not a number from 0 to 65535
    if url.scheme not in ("http", "https") or not url.hostname or port == 0 or url.path not in ("", "/") or url.query:
        raise ValueError(raw)
    return raw.rstrip("/")


def optional(parse):
    """Empty (or unset) means off, read as None; any other value as `parse` reads it."""
    return lambda raw: parse(raw) if raw else None


def existing_file(raw):
    path = Path(raw)
    if not path.is_file():
        raise ValueError(raw)
    return path


def one_of(*choices):
    """One of `choices`, in any case: the choices are all upper case or all lower case."""
    spelled = str.upper if choices[0].isupper() else str.lower

    def parse(raw):
        if spelled(raw) not in choices:
            raise ValueError(raw)
        return spelled(raw)

    return parse


BOOLEAN_WORDS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def boolean(raw):
    if raw.lower() not in BOOLEAN_WORDS:
        raise ValueError(raw)
    return BOOLEAN_WORDS[raw.lower()]


def host_list(raw):
    hosts = [host.strip() for host in raw.split(",")]
    if not all(hosts):
        raise ValueError(raw)
    return hosts


def any_text(raw):
    return raw


def database_url(raw):
    """postgresql://user:password@host[:port]/database, or sqlite:///file (SQLAlchemy's form:
    four slashes for an absolute path); returned as it is."""
    url = urlsplit(raw)
    port = url.port  # raises ValueError when it is not a number from 0 to 65535
    name = url.path.removeprefix("/")
    postgres = url.scheme == "postgresql" and url.hostname and port != 0 and name and "/" not in name
    sqlite = url.scheme == "sqlite" and not url.netloc and name
    if not (postgres or sqlite) or url.query or url.fragment:
        raise ValueError(raw)
    return raw


SECONDS = "a number of seconds"
_SETTINGS = [
    Setting("DIE_SERVICE_URL", f"http://127.0.0.1:{DIE_SERVICE.local_port}", http_url, "http(s)://host[:port]"),
    Setting("DICE_ROLLER_URL", f"http://127.0.0.1:{DICE_ROLLER.local_port}", http_url, "http(s)://host[:port]"),
    Setting("GRAFANA_URL", "http://localhost:3000", http_url, "http(s)://host[:port]"),
    # Unset: trace links open Grafana's Explore. make run sets its own trace pages (runtime/views/page.py).
    Setting("TRACE_VIEW_URL", "", optional(http_url), "http(s)://host[:port], or nothing for Grafana's Explore"),
    Setting(
        "DIE_SPECIFICATIONS_FILE", str(PROJECT / "diespec/die_specifications.json"), existing_file,
        "the path of an existing JSON file",
    ),
    # Unset: SQLite, in a file the die service creates (docs/configuration.md).
    Setting(
        "DATABASE_URL", f"sqlite:///{PROJECT / 'var/dice.sqlite3'}", database_url,
        "postgresql://user:password@host[:port]/database or sqlite:///path/to/file", secret=True,
    ),
    Setting("DATABASE_POOL_SIZE", "10", whole_number(1, 100), "a whole number of connections from 1 to 100"),
    Setting(
        "DATABASE_TIMEOUT_SECONDS", "1.5", number(0, 60, low_included=False),
        f"{SECONDS} above 0, at most 60 (a read's whole budget: a connection from the pool, connecting, the query)",
    ),
    Setting("ROLL_MAX_DELAY_SECONDS", "1.0", number(0, 60), f"{SECONDS} from 0 to 60 (0: no delay)"),
    # The dice roller's threads for the rolls of /roll-async batches, per worker (docs/telemetry.md).
    Setting("ROLL_THREADS", "64", whole_number(1, 1024), "a whole number of threads from 1 to 1024"),
    Setting("DIE_SERVICE_TIMEOUT_SECONDS", "2.0", number(0, 60, low_included=False), f"{SECONDS} above 0, at most 60"),
    Setting("DICE_ROLLER_TIMEOUT_SECONDS", "5.0", number(0, 60, low_included=False), f"{SECONDS} above 0, at most 60"),
    Setting(
        "DIE_LIST_MAX_AGE_SECONDS", "10", number(0, 86400, low_included=False), f"{SECONDS} above 0, at most 86400"
    ),
    Setting("FAULT_INJECTION", "on", boolean, "on or off"),
    Setting("LOG_LEVEL", "INFO", one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
            "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    Setting("DJANGO_DEBUG", "false", boolean, "true or false"),
    SecretKey("DJANGO_SECRET_KEY", "", any_text, "a secret key (any text); none only with DJANGO_DEBUG=true"),
    # The compose names are how Prometheus and the other containers reach the frontend.
    Setting("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],frontend,frontend-stage3", host_list,
            "host names separated by commas"),
    # The OpenTelemetry SDK's own variable, read here so that a typo is refused, not taken for otlp.
    Setting("OTEL_TRACES_EXPORTER", "otlp", one_of("otlp", "console", "none"), "otlp, console or none"),
    # Unset: no profiling. compose sets Grafana Pyroscope, make run its own receiver (docs/telemetry.md).
    Setting("PYROSCOPE_SERVER_ADDRESS", "", optional(http_url), "http(s)://host[:port], or nothing for no profiling"),
    # How often each worker's agent sends its samples (the agent's default, 10 s); make run sets 2 so
    # that a trace printed in the terminal waits little for its profile.
    Setting("PYROSCOPE_UPLOAD_INTERVAL_SECONDS", "10", whole_number(1, 60),
            "a whole number of seconds from 1 to 60"),
    Setting("WEB_CONCURRENCY", "1", whole_number(1, 32), "a whole number of worker processes from 1 to 32"),
    # Threads wait out slow rolls: enough that 100 users rolling at once never queue
    # (docs/development.md, "Choices where the contract is silent").
    Setting("GUNICORN_THREADS", "128", whole_number(1, 1024), "a whole number of threads from 1 to 1024"),
]
SETTINGS = {setting.name: setting for setting in _SETTINGS}


def read(name):
    """The value of the setting `name` in the environment (its default when unset)."""
    return SETTINGS[name].read()


# Deadlines nest (docs/configuration.md): each layer answers its caller before the caller gives
# up, or the caller times out first and blames the wrong hop. A read of the die service's
# database may end DATABASE_BACKSTOP_GRACE_SECONDS past its budget (a frozen server's connection
# is cut then, diespec/database/deadline.py), and every answer needs ANSWER_ROOM_SECONDS to travel back.
DATABASE_BACKSTOP_GRACE_SECONDS = 0.2
ANSWER_ROOM_SECONDS = 0.1
# (what the layer below may take: the sum of these settings, plus this much), the caller's timeout
DEADLINES = (
    (("DATABASE_TIMEOUT_SECONDS",), DATABASE_BACKSTOP_GRACE_SECONDS, "DIE_SERVICE_TIMEOUT_SECONDS"),
    (("DIE_SERVICE_TIMEOUT_SECONDS", "ROLL_MAX_DELAY_SECONDS"), 0, "DICE_ROLLER_TIMEOUT_SECONDS"),
)


class DeadlineError(SettingError):
    def __init__(self, name, message):
        Exception.__init__(self, message)
        self.name = name


def check_deadlines(names, environ=None):
    """Raises DeadlineError for the first rule of DEADLINES that involves one of `names` (the
    settings a service reads) and does not hold with the values of `environ`, defaults for
    the others: each service checks the rules its own settings take part in."""
    environ = os.environ if environ is None else environ
    for below, extra, caller in DEADLINES:
        involved = [name for name in (*below, caller) if name in names]
        if not involved:
            continue
        values = {name: SETTINGS[name].read(environ) for name in (*below, caller)}
        if sum(values[name] for name in below) + extra + ANSWER_ROOM_SECONDS > values[caller]:
            terms = " + ".join([*(f"{name} ({values[name]:g})" for name in below),
                                *([f"{extra:g} s"] if extra else []), f"{ANSWER_ROOM_SECONDS:g} s"])
            named = next((name for name in involved if environ.get(name, "").strip()), involved[0])
            raise DeadlineError(named, f"the deadlines do not nest: {terms} must be at most {caller} "
                                f"({values[caller]:g}), so that each layer answers before its caller gives up")


def read_or_default(name):
    """The value of `name`, or its default when the value is bad: for gunicorn's config file,
    which is read before gunicorn can log; its master then refuses the bad value in a JSON
    line (ops/startup.py, from the on_starting hook)."""
    try:
        return read(name)
    except SettingError:
        return SETTINGS[name].read({})
