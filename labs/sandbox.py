"""The running sandbox as the labs see it, one way or the other:

- **make run** (var/run.json says where): the services on their local ports, traces from the
  Tempo API that make run serves, profiles from its Pyroscope API, metrics from the services'
  own /metrics (and PromQL from its Prometheus, when it runs one), logs from the files make run
  writes; a service is frozen with SIGSTOP, the database is the SQLite file.
- **docker compose**: the same services on 8103..8105, Tempo on 3200, Pyroscope on 4040,
  Prometheus on 9090, Loki on 3100; a service is frozen with `docker compose pause`, SQL goes
  through psql in the postgres container.

Reading is one client for both (Tempo's API, Pyroscope's); only metrics, logs and the controls differ."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from backend_apis.logs import json_lines, log_file
from backend_apis.pyroscope import PYROSCOPE_PORT, SPAN_PROFILE_PATH, cpu_query
from backend_apis.tempo import TEMPO_PORT
from diespec.database import create_unpooled_engine
from ops.grafana_links import SEARCH_PAGE_PATH, explore_search_url, trace_url
from ops.services import DIE_SERVICE, FRONTEND, SERVICES
from ops.settings import SETTINGS
from runtime import REPO
from runtime.launcher.control import act
from runtime.launcher.run_file import NotRunning, exporting_to, identity, is_still, live_run

COMPOSE_TEMPO = f"http://localhost:{TEMPO_PORT}"
COMPOSE_PROMETHEUS = "http://localhost:9090"
COMPOSE_LOKI = "http://localhost:3100"
COMPOSE_PYROSCOPE = f"http://localhost:{PYROSCOPE_PORT}"
COMPOSE_GRAFANA = "http://localhost:3000"
DASHBOARD_UID = "dice-three-services"  # dashboards/dice-three-services.json's
TIMEOUT = 5
# A search link reaches this far past the lab's start: further than its traffic runs.
SEARCH_HOURS = 1


class Unreachable(Exception):
    """The sandbox or a telemetry backend does not answer: the message says what to do."""


class SqlFailed(Exception):
    """A statement on the die service's database failed: the message is the database's first line."""


@dataclass
class Sandbox:
    kind: str  # "make run" or "compose"
    urls: dict  # service name -> base URL
    tempo: str
    run: dict  # make run's var/run.json, or {} under compose
    pyroscope: str = ""  # where the profiles are read ("" when make run keeps none)

    @classmethod
    def find(cls, state_dir):
        """The sandbox that runs now: make run's, when its run.json names a live process, else compose's."""
        run = live_run(state_dir)
        if run:
            if not run.get("tempo"):
                raise Unreachable("make run keeps no traces here (a collector of yours receives them, or "
                                  "--no-trace-view): restart it with neither, or use docker compose")
            return cls.of_make_run(run)
        try:
            requests.get(f"{COMPOSE_PROMETHEUS}/-/ready", timeout=TIMEOUT).raise_for_status()
        except requests.RequestException:
            raise Unreachable("no sandbox is running: start it with `make run` (or `docker compose up -d`), "
                              "then try again") from None
        return cls.of_compose()

    @classmethod
    def of_make_run(cls, run):
        """make run's, where its run file says."""
        return cls("make run", run["urls"], run["tempo"], run, run.get("pyroscope") or "")

    @classmethod
    def of_compose(cls):
        return cls("compose", {s.name: f"http://localhost:{s.local_port}" for s in SERVICES}, COMPOSE_TEMPO, {},
                   COMPOSE_PYROSCOPE)

    @classmethod
    def expected(cls, state_dir):
        """make run as it would be, on its default ports, when none runs: what `show` names then."""
        urls = {s.name: f"http://127.0.0.1:{s.local_port}" for s in SERVICES}
        return cls.of_make_run({"urls": urls, "tempo": f"http://127.0.0.1:{TEMPO_PORT}",
                                "pyroscope": f"http://127.0.0.1:{PYROSCOPE_PORT}",
                                "logs": str(Path(state_dir) / "logs")})

    # ---- where the learner looks: every address from the sandbox that runs

    @property
    def is_compose(self):
        return self.kind == "compose"

    @property
    def traces_name(self):
        return f"Tempo at {self.tempo}" if self.is_compose else f"make run's Tempo at {self.tempo}"

    def trace_link(self, trace_id):
        """A trace as the learner reads it: make run's page of it, or Grafana's Explore."""
        return trace_url(trace_id, COMPOSE_GRAFANA, None if self.is_compose else self.tempo)

    def search_link(self, traceql, since=None):
        """A page of the traces a TraceQL query finds, since `since` (Unix seconds) when given:
        make run's search page, or Grafana's Explore."""
        if self.is_compose:
            return explore_search_url(COMPOSE_GRAFANA, traceql, since)
        window = {"start": int(since), "end": int(since) + SEARCH_HOURS * 3600} if since else {}
        return f"{self.tempo}{SEARCH_PAGE_PATH}?{urlencode({'q': traceql, **window})}"

    def metrics_link(self, service):
        return f"{self.urls[service]}/metrics"

    def log_path(self, service):
        """make run's log file of `service`."""
        return log_file(self.run["logs"], service)

    @property
    def dashboard(self):
        return f"{COMPOSE_GRAFANA}/d/{DASHBOARD_UID}"

    def profile_place(self, trace_id):
        """Where a span's own CPU profile is read, in the learner's words."""
        if self.is_compose:
            return ("Grafana: the span's \"Profiles for this span\" (its CPU flame graph from Pyroscope) in its "
                    f"trace, {self.trace_link(trace_id)}")
        return ("the `· cpu` line make run prints under that span (its CPU and top functions, the first the "
                f"hottest), on its trace page too, {self.trace_link(trace_id)}")

    # ---- reading: traces, metrics, logs

    def get_trace(self, trace_id):
        """Tempo's /api/traces answer for `trace_id`, or None when Tempo has no such trace."""
        response = ask("Tempo", self.tempo, f"/api/traces/{trace_id}", absent=404)
        return None if response.status_code == 404 else response.json()

    def search(self, **params):
        """Tempo's /api/search: [trace summaries], newest first. A `start` goes with an end, now,
        and a second before it at the latest: Tempo 3 refuses one alone, cuts the end at now in
        whole seconds, and refuses a start that is not before it."""
        if "start" in params:
            now = int(time.time())
            params.update(start=min(int(params["start"]), now - 1), end=now)
        return ask("Tempo", self.tempo, "/api/search", params=params).json().get("traces", [])

    @property
    def profile_lag_seconds(self):
        """How long after a span ends its profile may still be on its way: two of the agents'
        uploads (make run says how often its services send, compose keeps the agent's 10 s) and a second."""
        upload = self.run.get("profile_upload_seconds") or SETTINGS["PYROSCOPE_UPLOAD_INTERVAL_SECONDS"].default
        return 2 * int(upload) + 1

    def profile_on_its_way(self, span):
        """Whether `span` ended too recently for its profile to be in yet: until it is, a span
        that computed looks as idle as one that waited."""
        return time.time() - span.end_ns / 1e9 < self.profile_lag_seconds

    def span_profile(self, service, span_id, since_seconds=3600):
        """The CPU flame graph of one span of `service` (Pyroscope's SelectMergeSpanProfile, the
        query behind Grafana's "Profiles for this span"): {names, levels, total, maxSelf}."""
        if not self.pyroscope:
            raise Unreachable("make run keeps no profiles here (a Pyroscope of yours receives them): "
                              "read them there, or restart make run without PYROSCOPE_SERVER_ADDRESS")
        query = cpu_query(service, since_seconds, [span_id])
        return ask("Pyroscope", self.pyroscope, SPAN_PROFILE_PATH, method="POST", json=query).json() \
            .get("flamegraph") or {}

    def counter_values(self, service, metric, **labels):
        """{labels of the series: value} of a counter of `service` (the sum over its workers)."""
        if self.kind == "make run":
            try:
                text = requests.get(f"{self.urls[service]}/metrics", timeout=TIMEOUT).text
            except requests.RequestException:
                raise Unreachable(f"the {service} does not answer at {self.urls[service]}") from None
            found = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
                        found[tuple(sorted(sample.labels.items()))] = sample.value
            return found
        selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
        job = next(s.container for s in SERVICES if s.name == service)
        query = f'{metric}{{job="{job}",{selector}}}' if selector else f'{metric}{{job="{job}"}}'
        answer = ask("Prometheus", COMPOSE_PROMETHEUS, "/api/v1/query", params={"query": query}).json()
        scrape_labels = ("job", "instance", "__name__", "service")
        return {
            tuple(sorted((k, v) for k, v in result["metric"].items() if k not in scrape_labels)):
                float(result["value"][1])
            for result in answer.get("data", {}).get("result", [])
        }

    @property
    def prometheus(self):
        """Where PromQL is asked: compose's Prometheus, or make run's own when it runs one (run.json), or None."""
        return self.run.get("prometheus") if self.kind == "make run" else COMPOSE_PROMETHEUS

    def promql(self, query):
        """Prometheus' instant answer to `query`: [(labels, value)]."""
        if not self.prometheus:
            raise Unreachable("this make run has no Prometheus, and this lab asks it: install Debian's "
                              "(apt install prometheus prometheus-alertmanager) and restart make run, "
                              "or use docker compose")
        answer = ask("Prometheus", self.prometheus, "/api/v1/query", params={"query": query}).json()
        return [(result["metric"], float(result["value"][1])) for result in answer["data"]["result"]]

    def log_lines(self, service, containing):
        """The JSON log lines of `service` that contain `containing` (a trace id), decoded."""
        if self.kind == "make run":
            return json_lines(log_file(self.run["logs"], service), containing)
        else:
            container = next(s.container for s in SERVICES if s.name == service)
            query = f'{{container_name="{container}"}} |= "{containing}"'
            start = int((time.time() - 3600) * 1e9)
            answer = ask("Loki", COMPOSE_LOKI, "/loki/api/v1/query_range",
                         params={"query": query, "start": start, "limit": 1000}).json()
            lines = [line for stream in answer.get("data", {}).get("result", []) for _, line in stream["values"]]
        found = []
        for line in lines:
            if containing in line and line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    # ---- acting: traffic, freezing a service, SQL

    def start_traffic(self, log_path, lab, *arguments, faults=()):
        """`python -m traffic --lab LAB` in the background, rolling at this sandbox's frontend; who
        it is (an identity, for stop_process). `faults` (SERVICE=KIND:VALUE each) go to it on its
        standard input, never on its command line: `ps` shows the command, not the lab's cause."""
        env = dict(os.environ)
        if self.run.get("otlp"):  # make run's receiver: the generator's spans join their traces
            env.update(exporting_to(self.run["otlp"]))
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "traffic", "--url", self.urls[FRONTEND.name],
                 "--die-service-url", self.urls[DIE_SERVICE.name], "--lab", lab, *arguments],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                start_new_session=True,
            )
        with process.stdin:
            process.stdin.write("".join(f"{fault}\n" for fault in faults).encode())
        return identity(process.pid)

    def freeze(self, service):
        if self.kind == "make run":
            self._control("freeze", service)
        else:
            _compose("pause", service)  # compose's services are named as ours

    def resume(self, service):
        if self.kind == "make run":
            self._control("resume", service)
        else:
            _compose("unpause", service)

    def _control(self, action, service):
        """make freeze|resume's own way: the service's gunicorn, only while it is the one make run started."""
        try:
            act(self.run, action, service)
        except NotRunning as problem:
            raise Unreachable(str(problem)) from None

    def run_sql(self, statement, parameters=None):
        """`statement` (SQL with :named parameters) on the die service's database: under make run
        through the die service's own data layer, on SQLite or PostgreSQL alike; under compose
        through psql in the postgres container, as a learner would. Raises SqlFailed."""
        parameters = parameters or {}
        if self.kind == "make run":
            try:
                engine = create_unpooled_engine(self._database_url(), TIMEOUT)
                try:
                    with engine.begin() as connection:
                        connection.execute(text(statement), parameters)
                finally:
                    engine.dispose()
            except SQLAlchemyError as error:
                raise SqlFailed(str(getattr(error, "orig", error)).splitlines()[0]) from None
            return
        for name, value in parameters.items():  # psql takes the values inline: ours only, quoted
            statement = statement.replace(f":{name}", "'" + str(value).replace("'", "''") + "'")
        try:
            _compose("exec", "-T", "postgres", "psql", "-U", "dice", "dice", "-v", "ON_ERROR_STOP=1", "-c", statement)
        except subprocess.CalledProcessError as error:
            raise SqlFailed(f"psql exited with {error.returncode}") from None

    def _database_url(self):
        """make run's database: its URL as run.json has it, the password masked there, so the
        environment's own DATABASE_URL when it names the same database (the shell that ran make run)."""
        recorded = make_url(self.run["database_url"])
        own = os.environ.get("DATABASE_URL")
        if own and make_url(own).render_as_string(hide_password=True) == self.run["database_url"]:
            return own
        return recorded.render_as_string(hide_password=False)


def ask(backend, base_url, path, method="GET", absent=None, **request):
    """`backend`'s answer at `base_url` + `path`. Unreachable tells apart a backend that does not
    answer from one that refused (its status and what it said); the `absent` status is an answer."""
    try:
        response = requests.request(method, base_url + path, timeout=TIMEOUT, **request)
    except requests.RequestException:
        raise Unreachable(f"{backend} does not answer at {base_url}: is the sandbox running?") from None
    if not response.ok and response.status_code != absent:
        raise Unreachable(f"{backend} at {base_url} refused {path} ({response.status_code}: "
                          f"{response.text.strip()[:200]})")
    return response


def stop_process(started):
    """Ends a background process of ours (its whole session, `started` its identity), if it is
    still the one we started: never a stranger that took its pid since."""
    if is_still(started):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started["pid"], signal.SIGTERM)


def _compose(*arguments):
    subprocess.run(["docker", "compose", *arguments], cwd=REPO, check=True, capture_output=True, timeout=60)
