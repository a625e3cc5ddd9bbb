"""Every setting is checked at start: a bad value stops the service at once with one line
naming it, and gunicorn exits non-zero after at most one worker boot (never a restart loop)."""

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.ports import free_port
from harness.stack import Stack
from ops import settings
from ops.services import DICE_ROLLER, DIE_SERVICE, FRONTEND, SERVICES
from ops.settings import SETTINGS, SettingError
from runtime import REPO
from runtime.launcher.gunicorn import gunicorn_command


@pytest.mark.parametrize(
    "name, raw, value",
    [
        ("ROLL_MAX_DELAY_SECONDS", "", 1.0),
        ("ROLL_MAX_DELAY_SECONDS", " 0 ", 0.0),
        ("DIE_SERVICE_TIMEOUT_SECONDS", "0.25", 0.25),
        ("DIE_SERVICE_URL", "https://dice.example:8443/", "https://dice.example:8443"),
        ("DIE_SERVICE_URL", "http://[::1]:8103", "http://[::1]:8103"),
        ("LOG_LEVEL", "debug", "DEBUG"),
        ("DJANGO_DEBUG", "On", True),
        ("DJANGO_ALLOWED_HOSTS", "a.test, b.test", ["a.test", "b.test"]),
        ("GUNICORN_THREADS", "", 128),
        ("ROLL_THREADS", "", 64),
        ("OTEL_TRACES_EXPORTER", " Console ", "console"),
        ("OTEL_TRACES_EXPORTER", "", "otlp"),
        ("ROLL_THREADS", "2", 2),
    ],
)
def test_good_values_and_defaults(name, raw, value):
    assert SETTINGS[name].read({name: raw}) == value


@pytest.mark.parametrize(
    "name, raw",
    [
        ("ROLL_MAX_DELAY_SECONDS", "abc"), ("ROLL_MAX_DELAY_SECONDS", "inf"), ("ROLL_MAX_DELAY_SECONDS", "nan"),
        ("ROLL_MAX_DELAY_SECONDS", "-1"), ("ROLL_MAX_DELAY_SECONDS", "61"),
        ("DIE_SERVICE_TIMEOUT_SECONDS", "0"), ("DICE_ROLLER_TIMEOUT_SECONDS", "-5"),
        ("DIE_LIST_MAX_AGE_SECONDS", "soon"), ("DIE_SERVICE_URL", "not a url"), ("DIE_SERVICE_URL", "127.0.0.1:8103"),
        ("DIE_SERVICE_URL", "ftp://host"), ("DIE_SERVICE_URL", "http://host:99999"), ("DIE_SERVICE_URL", "http://host/x"),
        ("DIE_SERVICE_URL", "http://:8103"), ("DIE_SPECIFICATIONS_FILE", "/no/such/file.json"), ("LOG_LEVEL", "loud"),
        ("DJANGO_DEBUG", "maybe"), ("DJANGO_ALLOWED_HOSTS", "a,,b"), ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "2.5"), ("GUNICORN_THREADS", "lots"), ("ROLL_THREADS", "0"), ("ROLL_THREADS", "many"),
        ("OTEL_TRACES_EXPORTER", "jaeger"), ("DJANGO_SECRET_KEY", ""), ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_POOL_SIZE", "101"), ("DATABASE_TIMEOUT_SECONDS", "0"), ("DATABASE_TIMEOUT_SECONDS", "nan"),
    ],
)
def test_bad_values_name_the_variable_the_value_and_what_is_expected(name, raw):
    with pytest.raises(SettingError) as caught:
        SETTINGS[name].read({name: raw})
    message = str(caught.value)
    assert message.startswith(f"{name}={raw!r} cannot be used: expected ") and caught.value.name == name


@pytest.mark.parametrize(
    "raw",
    ["mysql://user:s3cret@host/dice", "postgresql://user:s3cret@host/", "postgresql://user:s3cret@host:99999/dice",
     "postgresql://user:s3cret@host/dice?sslmode=x", "sqlite://s3cret/dice.sqlite3", "s3cret"],
)
def test_a_bad_database_url_is_refused_without_its_password(raw):
    with pytest.raises(SettingError) as caught:
        SETTINGS["DATABASE_URL"].read({"DATABASE_URL": raw})
    assert str(caught.value).startswith("DATABASE_URL=(value not shown) cannot be used: expected postgresql://")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "raw", ["postgresql://dice:pw@postgres:5432/dice", "postgresql://127.0.0.1/dice", "sqlite:////tmp/x.sqlite3"]
)
def test_good_database_urls_are_taken_as_they_are(raw):
    assert SETTINGS["DATABASE_URL"].read({"DATABASE_URL": raw}) == raw


def test_every_variable_of_the_readme_table_is_defined_and_read_by_a_service():
    readme = (REPO / "docs/configuration.md").read_text()
    read_by_services = {name for service in SERVICES for name in service.settings}
    for name in SETTINGS:
        assert f"`{name}`" in readme, f"{name} is not in the configuration table of docs/configuration.md"
    assert read_by_services | {"WEB_CONCURRENCY"} == set(SETTINGS)


# One bad value per variable, on a real gunicorn process: (service, variable, value).
BAD_SETTINGS = [
    (DIE_SERVICE, "DIE_SPECIFICATIONS_FILE", "/no/such/dice.json"),
    (DIE_SERVICE, "DATABASE_URL", "mysql://dice@localhost/dice"),
    (DIE_SERVICE, "DATABASE_TIMEOUT_SECONDS", "-1"),
    (DIE_SERVICE, "LOG_LEVEL", "loud"),
    (DICE_ROLLER, "DIE_SERVICE_URL", "not a url"),
    (DICE_ROLLER, "DIE_SERVICE_URL", "127.0.0.1:8103"),  # no scheme
    (DICE_ROLLER, "DIE_SERVICE_TIMEOUT_SECONDS", "-1"),
    (DICE_ROLLER, "ROLL_MAX_DELAY_SECONDS", "abc"),
    (DICE_ROLLER, "ROLL_MAX_DELAY_SECONDS", "inf"),
    (DICE_ROLLER, "ROLL_MAX_DELAY_SECONDS", "nan"),
    (DICE_ROLLER, "ROLL_THREADS", "0"),
    (FRONTEND, "DIE_SERVICE_URL", "http://"),
    (FRONTEND, "DICE_ROLLER_URL", "localhost:8104"),
    (FRONTEND, "DICE_ROLLER_TIMEOUT_SECONDS", "-1"),
    (FRONTEND, "DIE_LIST_MAX_AGE_SECONDS", "soon"),
    (FRONTEND, "GRAFANA_URL", "grafana"),
    (FRONTEND, "DJANGO_DEBUG", "maybe"),
    (FRONTEND, "DJANGO_ALLOWED_HOSTS", ","),
    (FRONTEND, "DJANGO_SECRET_KEY", ""),  # required with DEBUG off
    (FRONTEND, "GUNICORN_THREADS", "lots"),  # gunicorn's own, read by its config file too
    (DIE_SERVICE, "WEB_CONCURRENCY", "0"),
    (DICE_ROLLER, "WEB_CONCURRENCY", "40"),  # (not a number: gunicorn's own import fails first, exit 1)
    (DIE_SERVICE, "GUNICORN_THREADS", "0"),
    (DICE_ROLLER, "LOG_LEVEL", "verbose"),
    (DIE_SERVICE, "OTEL_TRACES_EXPORTER", "jaeger"),  # would silently have been OTLP
    (FRONTEND, "OTEL_TRACES_EXPORTER", "otlp,console"),
    (DICE_ROLLER, "PYROSCOPE_SERVER_ADDRESS", "pyroscope:4040"),  # no scheme: the agent would push nowhere
    (FRONTEND, "PYROSCOPE_UPLOAD_INTERVAL_SECONDS", "0"),
    # Deadlines that do not nest (docs/configuration.md), each against the defaults of the others.
    (DIE_SERVICE, "DATABASE_TIMEOUT_SECONDS", "1.8"),
    (DICE_ROLLER, "DIE_SERVICE_TIMEOUT_SECONDS", "5"),
    (DICE_ROLLER, "ROLL_MAX_DELAY_SECONDS", "3"),
    (FRONTEND, "DICE_ROLLER_TIMEOUT_SECONDS", "2"),
]


def start_with(service, name, raw, log_dir):
    env = {**Stack.BASE_ENV, "OTEL_TRACES_EXPORTER": "none", name: raw}
    log_path = log_dir / f"{service.name}-{name}-{abs(hash(raw))}.log"
    command = gunicorn_command(service.entry_point, f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env={**_environ(), **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        exit_code = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        exit_code = process.wait()
    elapsed = time.monotonic() - started
    return exit_code, elapsed, log_path.read_text(errors="replace").splitlines()


def _environ():
    """The test process's environment without any of our settings: each case sets one."""
    return {key: value for key, value in os.environ.items() if key not in SETTINGS}


@pytest.mark.slow
def test_a_bad_setting_stops_the_service_at_once_with_one_line(tmp_path):
    """gunicorn's master checks every setting, its own and the app's, before any worker:
    exit code 4 (which gunicorn's callers and supervisors see), no worker boot, one JSON line."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: start_with(*case, tmp_path), BAD_SETTINGS))
    problems = []
    for (service, name, raw), (exit_code, elapsed, lines) in zip(BAD_SETTINGS, results, strict=True):
        naming = [line for line in lines if name in line]
        boots = [line for line in lines if "Booting worker" in line]
        if exit_code != 4 or elapsed > 5 or len(naming) != 1 or boots:
            problems.append(f"{service} {name}={raw!r}: exit {exit_code} after {elapsed:.1f} s, "
                            f"{len(boots)} worker boots, lines naming it: {naming}\n" + "\n".join(lines[-5:]))
            continue
        record = json.loads(naming[0])
        if (record["level"], record["service"], record["variable"]) != ("CRITICAL", service.name, name):
            problems.append(f"{service} {name}: {naming[0]}")
    assert not problems, "\n\n".join(problems)


def test_the_deadline_rule_names_each_term_and_holds_for_the_defaults():
    settings.check_deadlines(SETTINGS)  # the defaults nest
    with pytest.raises(settings.DeadlineError) as refused:
        settings.check_deadlines(("DATABASE_TIMEOUT_SECONDS",), {"DATABASE_TIMEOUT_SECONDS": "1.8"})
    assert str(refused.value) == (
        "the deadlines do not nest: DATABASE_TIMEOUT_SECONDS (1.8) + 0.2 s + 0.1 s must be at most "
        "DIE_SERVICE_TIMEOUT_SECONDS (2), so that each layer answers before its caller gives up")
    # A service checks only the rules its own settings take part in.
    settings.check_deadlines(("DICE_ROLLER_TIMEOUT_SECONDS",), {"DATABASE_TIMEOUT_SECONDS": "1.8"})
