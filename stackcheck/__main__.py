"""python -m stackcheck (make stack-check): start the compose stack, roll some dice through
the frontend, check every promise of docs/compose.md through the components' HTTP APIs on
localhost, print one line per promise, and take the stack down again, whatever happened.
On any failure it prints `docker compose ps` and the last lines of each container's logs.

    python -m stackcheck            # needs Docker with Compose v2
    python -m stackcheck --keep     # leave the stack running afterwards
"""

import argparse
import contextlib
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import requests
import yaml

from backend_apis.pyroscope import SPAN_PROFILE_PATH, STACKTRACES_PATH, cpu_query
from labs.sandbox import Sandbox, Unreachable
from ops import services
from runtime import REPO
from stackcheck import learner, promises

FRONTEND = f"http://localhost:{services.FRONTEND.local_port}"
TEMPO = "http://localhost:3200"
LOKI = "http://localhost:3100"
PROMETHEUS = "http://localhost:9090"
GRAFANA = "http://localhost:3000"
ALLOY = "http://localhost:12345"
PYROSCOPE = "http://localhost:4040"
# Ready before any traffic: a span or a line sent earlier could be lost, and the check say so.
READY = {"Tempo": f"{TEMPO}/ready", "Loki": f"{LOKI}/ready", "Alloy": f"{ALLOY}/-/ready",
         "Pyroscope": f"{PYROSCOPE}/ready"}
# A roll that computes in the dice roller: its span's profile has the burner on top.
CPU_FAULT = {"baggage": "fault.dice-roller=cpu:300"}
GRAFANA_ADMIN = ("admin", "admin")  # Grafana's default; the datasource health API wants a signed-in user
DATASOURCES = REPO / "stack/grafana/provisioning/datasources/datasources.yaml"
ROLLS = 60
BATCH = 5  # dice in the batch whose trace is checked
READY_SECONDS = 120
WAIT_SECONDS = 180  # Tempo's metrics, two scrapes and Loki's first lines all land well within this
LOG_TAIL = 30  # lines of each container's log printed when something failed
# A container of another compose project, which Alloy must leave out of Loki.
OTHER_PROJECT = "not-the-dice-sandbox"


@dataclass
class Traffic:
    """What the check sent: a roll's and a batch's trace ids, the other project's marker line."""

    roll_trace_id: str | None = None
    batch_trace_id: str | None = None
    cpu_trace_id: str | None = None  # a roll with CPU_FAULT
    marker: str | None = None
    marker_at: float = 0.0  # when the other project's container wrote its marker (Unix time)


def get(url, **params):
    auth = GRAFANA_ADMIN if url.startswith(GRAFANA + "/api/datasources") else None
    response = requests.get(url, params=params, auth=auth, timeout=10)
    response.raise_for_status()
    return response.json()


def loki_range(query, since_seconds=900, start=None):
    start_ns = int((start or time.time() - since_seconds) * 1e9)
    return get(f"{LOKI}/loki/api/v1/query_range", query=query, start=start_ns, limit=500)


def stack_logs():
    return loki_range('{container_name=~"(die-service|dice-roller|frontend)-stage3"}')


def tempo_trace(trace_id):
    try:
        return get(f"{TEMPO}/api/traces/{trace_id}") if trace_id else None
    except requests.HTTPError:  # 404 until Tempo has it
        return None


def check_tempo(traffic):
    search = get(f"{TEMPO}/api/search", q='{resource.service.name="frontend" && span.http.route="/roll"}', limit=5)
    trace = get(f"{TEMPO}/api/traces/{search['traces'][0]['traceID']}") if search.get("traces") else {}
    return promises.three_service_trace(search, trace)


def check_query_span(traffic):
    return promises.query_under_die_service(tempo_trace(traffic.roll_trace_id))


def check_batch_trace(traffic):
    return promises.batch_trace(traffic.batch_trace_id, tempo_trace(traffic.batch_trace_id), BATCH)


def check_log_trace(traffic):
    trace_id = promises.first_log_trace_id(stack_logs())
    return promises.log_trace_in_tempo(trace_id, tempo_trace(trace_id))


def check_trace_to_logs(traffic):
    """Grafana's "Logs for this trace": the provisioned query, with a roll's trace id."""
    tempo = next(d for d in yaml.safe_load(DATASOURCES.read_text())["datasources"] if d["uid"] == "tempo")
    query = tempo["jsonData"]["tracesToLogsV2"]["query"].replace("$${__trace.traceId}", traffic.roll_trace_id or "")
    return promises.trace_logs_found(traffic.roll_trace_id, loki_range(query))


def check_other_project(traffic):
    if not traffic.marker:
        return False, "the other compose project's container could not be started"
    ours_since = loki_range('{container_name="frontend-stage3"}', start=traffic.marker_at + 10)
    theirs = loki_range(f'{{container_name=~".+"}} |= "{traffic.marker}"')
    return promises.other_project_ignored(traffic.marker, ours_since, theirs)


def check_exemplars(metric, label):
    def check(traffic):
        now = time.time()
        answer = get(f"{PROMETHEUS}/api/v1/query_exemplars", query=metric, start=now - 900, end=now)
        return promises.has_exemplars(answer, label)

    return check


def check_series(metric):
    return lambda traffic: promises.has_series(get(f"{PROMETHEUS}/api/v1/query", query=metric), metric)


def check_span_metric_labels(traffic):
    return promises.span_metric_labels(get(f"{PROMETHEUS}/api/v1/query", query="traces_spanmetrics_calls_total"))


def pyroscope_flamegraph(service, span_ids=None):
    """Pyroscope's flame graph of `service`'s CPU over the last 15 minutes (of the spans `span_ids`)."""
    path = SPAN_PROFILE_PATH if span_ids else STACKTRACES_PATH
    response = requests.post(PYROSCOPE + path, json=cpu_query(service, 900, span_ids), timeout=10)
    response.raise_for_status()
    return response.json().get("flamegraph") or {}


def check_profiles(traffic):
    return promises.profiles_arrived({
        name: int(pyroscope_flamegraph(name).get("total", 0))
        for name in promises.SERVICE_NAMES
    })


def check_span_profile(traffic):
    """Grafana's "Profiles for this span": the roller's span of a CPU-faulted roll, by its id."""
    span_id = promises.server_span_id(tempo_trace(traffic.cpu_trace_id), services.DICE_ROLLER.name)
    graph = pyroscope_flamegraph(services.DICE_ROLLER.name, [span_id]) if span_id else {}
    return promises.burner_on_top(span_id, graph)


def check_datasources(traffic):
    return promises.datasources_healthy(
        {uid: get(f"{GRAFANA}/api/datasources/uid/{uid}/health") for uid in promises.DATASOURCE_UIDS}
    )


PROMISES = [
    ("Tempo: a roll's trace spans the three services (TraceQL)", check_tempo),
    ("Tempo: a roll's trace holds the PostgreSQL query under the die service", check_query_span),
    (f"Tempo: a batch of {BATCH} dice is one trace with {BATCH} roll die spans", check_batch_trace),
    ("Loki: JSON lines labelled container_name, compose_service, level, service",
     lambda traffic: promises.labelled_json_logs(stack_logs())),
    ("Loki → Tempo: a log line's trace_id is a trace Tempo has", check_log_trace),
    ("Tempo → Loki: the trace-to-logs query finds a roll's lines", check_trace_to_logs),
    ("Alloy: no line of another compose project's container", check_other_project),
    ("Prometheus: the three services' and postgres-exporter's scrape targets are up",
     lambda traffic: promises.targets_up(get(f"{PROMETHEUS}/api/v1/targets"))),
    ("Prometheus: latency histograms carry trace_id exemplars",
     check_exemplars("http_request_duration_seconds_bucket", "trace_id")),
    ("Prometheus: Tempo's span metrics carry traceID exemplars",
     check_exemplars("traces_spanmetrics_latency_bucket", "traceID")),
    ("Prometheus: Tempo's service-graph metrics", check_series("traces_service_graph_request_total")),
    ("Prometheus: the die service's database_queries_total", check_series("database_queries_total")),
    ("Prometheus: PostgreSQL's own metrics, through the exporter", check_series("pg_up")),
    ("Prometheus: Tempo's span metrics, labelled with the stable HTTP attributes", check_span_metric_labels),
    ("Pyroscope: each service's CPU profiles arrive", check_profiles),
    ("Pyroscope: a CPU-faulted span's own profile has the burner on top", check_span_profile),
    ("Grafana: the datasources are healthy", check_datasources),
    ("Grafana: the dashboard is provisioned",
     lambda traffic: promises.dashboard_provisioned(get(f"{GRAFANA}/api/search", query="Dice"))),
]


def check_all(traffic, deadline):
    """Asks again every five seconds until each promise holds or the deadline passes, rolling
    a few dice each time: Tempo's metrics generator ignores spans older than 30 s."""
    results = {}
    while True:
        for name, check in PROMISES:
            if results.get(name, (False,))[0]:
                continue
            try:
                results[name] = check(traffic)
            except (requests.RequestException, ValueError, KeyError, IndexError) as error:
                results[name] = (False, f"{type(error).__name__}: {error}")
        if all(passed for passed, _ in results.values()) or time.monotonic() > deadline:
            return results
        roll_dice(6)
        time.sleep(5)


def solve_labs():
    """Every lab under compose, as tests/test_labs.py plays it under make run: started, solved by
    the learner from Tempo, Prometheus and Loki alone (stackcheck/learner.py), a wrong answer
    refused, stopped. {promise: (passed, detail)}."""
    found = {}
    for lab, solve in learner.SOLVERS.items():
        since = time.time()
        started = labs_command("start", lab)
        try:
            briefing = started.stdout  # what start printed: a lab's trace id or dice
            right, wrong, never_in_hint = solve(Sandbox.find(REPO / "var"), since, briefing)
            checked, refused = labs_command("check", lab, *right), labs_command("check", lab, *wrong)
            passed = (started.returncode, checked.returncode, refused.returncode) == (0, 0, 1) \
                and never_in_hint not in refused.stdout
            detail = (checked.stdout or checked.stderr).splitlines()[0] if passed else \
                f"start {started.returncode}, check {checked.returncode}, wrong {refused.returncode}: " \
                f"{(checked.stdout + checked.stderr)[-300:]}"
        except (learner.NotFound, Unreachable, StopIteration, IndexError, KeyError, TypeError) as error:
            passed, detail = False, f"{type(error).__name__}: {error}"
        finally:
            labs_command("stop", lab)
        found[f"Lab {lab}: solved from the telemetry, a wrong answer refused"] = (passed, detail)
    return found


def labs_command(*arguments):
    return subprocess.run([sys.executable, "-m", "labs", *arguments], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def compose(*args, check=True):
    return subprocess.run(["docker", "compose", *args], check=check)


def wait_until_ready(deadline):
    """Tempo, Loki and Alloy answer their readiness endpoints; else RuntimeError saying which not."""
    waiting = dict(READY)
    while waiting:
        for name, url in list(waiting.items()):
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=3).status_code == 200:
                    del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {READY_SECONDS} s: {', '.join(waiting)}")
        if waiting:
            time.sleep(2)


def roll_dice(count=ROLLS, headers=None):
    """Single rolls of three kinds; returns the trace id of a fair one, or None."""
    trace_id = None
    for i in range(count):
        die = ("fair", "risky", "no-such-die")[i % 3]
        with contextlib.suppress(requests.RequestException, ValueError):  # the checks tell what went wrong
            answer = requests.get(f"{FRONTEND}/roll", params={"die": die}, headers=headers, timeout=10)
            if answer.status_code == 200:
                trace_id = answer.json().get("trace_id")
    return trace_id


def roll_batch():
    try:
        answer = requests.get(f"{FRONTEND}/roll-async", params={"die": "fair", "times": BATCH}, timeout=10)
        return answer.json().get("trace_id")
    except (requests.RequestException, ValueError, AttributeError):
        return None


def start_other_project(marker):
    """A container of another compose project, from our image, that writes `marker` once."""
    started = subprocess.run(
        ["docker", "run", "-d", "--name", OTHER_PROJECT, "--label", f"com.docker.compose.project={OTHER_PROJECT}",
         "dice-sandbox:stage3", "python", "-c", f"print({marker!r}, flush=True); import time; time.sleep(600)"],
        capture_output=True, text=True,
    )
    return started.returncode == 0


def print_diagnostics():
    """What a failed check needs to be understood: the containers' states and last lines."""
    print("\n--- docker compose ps", flush=True)
    compose("ps", "--all", check=False)
    print(f"\n--- the last {LOG_TAIL} lines of each container", flush=True)
    compose("logs", "--no-color", "--tail", str(LOG_TAIL), check=False)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m stackcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv)
    results, traffic = {}, Traffic()
    try:
        compose("up", "-d", "--build", "--wait")
        wait_until_ready(time.monotonic() + READY_SECONDS)
        traffic.marker, traffic.marker_at = f"other-project-{uuid.uuid4().hex}", time.time()
        if not start_other_project(traffic.marker):
            traffic.marker = None
        traffic.roll_trace_id = roll_dice()
        traffic.batch_trace_id = roll_batch()
        traffic.cpu_trace_id = roll_dice(1, headers=CPU_FAULT)
        results = check_all(traffic, time.monotonic() + WAIT_SECONDS)
        results.update(solve_labs())
    except (subprocess.CalledProcessError, RuntimeError, OSError) as error:
        results["the stack started and answered"] = (False, str(error))
    finally:
        if not results or not all(passed for passed, _ in results.values()):
            print_diagnostics()
        subprocess.run(["docker", "rm", "-f", OTHER_PROJECT], capture_output=True, check=False)
        if not args.keep:
            compose("down", "--volumes", check=False)
    for name, (passed, detail) in results.items():
        print(f"{'pass' if passed else 'FAIL'}  {name}: {detail}")
    return 0 if results and all(passed for passed, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
