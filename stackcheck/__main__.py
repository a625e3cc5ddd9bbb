"""python -m stackcheck (make stack-check): start the compose stack, roll some dice through
the frontend, check every promise of the README through the components' HTTP APIs on
localhost, print one line per promise, and take the stack down again.

    python -m stackcheck            # needs Docker with Compose v2
    python -m stackcheck --keep     # leave the stack running afterwards
"""

import argparse
import contextlib
import subprocess
import sys
import time

import requests

from ops import services
from stackcheck import promises

FRONTEND = f"http://localhost:{services.FRONTEND.local_port}"
TEMPO = "http://localhost:3200"
LOKI = "http://localhost:3100"
PROMETHEUS = "http://localhost:9090"
GRAFANA = "http://localhost:3000"
GRAFANA_ADMIN = ("admin", "admin")  # Grafana's default; the datasource health API wants a signed-in user
ROLLS = 60
BATCH = 5  # dice in the batch whose trace is checked
WAIT_SECONDS = 180  # Tempo's metrics, two scrapes and Loki's first lines all land well within this


def get(url, **params):
    auth = GRAFANA_ADMIN if url.startswith(GRAFANA + "/api/datasources") else None
    response = requests.get(url, params=params, auth=auth, timeout=10)
    response.raise_for_status()
    return response.json()


def check_tempo():
    search = get(f"{TEMPO}/api/search", q='{resource.service.name="frontend" && span.http.route="/roll"}', limit=5)
    trace = get(f"{TEMPO}/api/traces/{search['traces'][0]['traceID']}") if search.get("traces") else {}
    return promises.three_service_trace(search, trace)


def stack_logs():
    since = int((time.time() - 900) * 1e9)
    query = '{container_name=~"(die-service|dice-roller|frontend)-stage3"}'
    return get(f"{LOKI}/loki/api/v1/query_range", query=query, start=since, limit=500)


def check_batch_trace(trace_id):
    def check():
        try:
            trace = get(f"{TEMPO}/api/traces/{trace_id}") if trace_id else None
        except requests.HTTPError:  # 404 until Tempo has it
            trace = None
        return promises.batch_trace(trace_id, trace, BATCH)

    return check


def check_log_trace():
    trace_id = promises.first_log_trace_id(stack_logs())
    try:
        trace = get(f"{TEMPO}/api/traces/{trace_id}") if trace_id else None
    except requests.HTTPError:
        trace = None
    return promises.log_trace_in_tempo(trace_id, trace)


def check_exemplars():
    now = time.time()
    return promises.has_exemplars(
        get(f"{PROMETHEUS}/api/v1/query_exemplars", query="http_request_duration_seconds_bucket",
            start=now - 900, end=now)
    )


def check_series(metric):
    return lambda: promises.has_series(get(f"{PROMETHEUS}/api/v1/query", query=metric), metric)


def check_datasources():
    return promises.datasources_healthy(
        {uid: get(f"{GRAFANA}/api/datasources/uid/{uid}/health") for uid in promises.DATASOURCE_UIDS}
    )


PROMISES = [
    ("Tempo: a roll's trace spans the three services (TraceQL)", check_tempo),
    ("Loki: JSON lines labelled container_name, compose_service, level, service",
     lambda: promises.labelled_json_logs(stack_logs())),
    ("Loki → Tempo: a log line's trace_id is a trace Tempo has", check_log_trace),
    ("Prometheus: the three scrape targets are up", lambda: promises.targets_up(get(f"{PROMETHEUS}/api/v1/targets"))),
    ("Prometheus: latency histograms carry trace_id exemplars", check_exemplars),
    ("Prometheus: Tempo's service-graph metrics", check_series("traces_service_graph_request_total")),
    ("Prometheus: Tempo's span metrics", check_series("traces_spanmetrics_calls_total")),
    ("Grafana: the datasources are healthy", check_datasources),
    ("Grafana: the dashboard is provisioned",
     lambda: promises.dashboard_provisioned(get(f"{GRAFANA}/api/search", query="Dice"))),
]


def check_all(deadline, batch_trace_id):
    """Asks again every five seconds until each promise holds or the deadline passes."""
    results = {}
    checks = [*PROMISES, (f"Tempo: a batch of {BATCH} dice is one trace with {BATCH} roll die spans",
                          check_batch_trace(batch_trace_id))]
    while True:
        for name, check in checks:
            if results.get(name, (False,))[0]:
                continue
            try:
                results[name] = check()
            except (requests.RequestException, ValueError, KeyError, IndexError) as error:
                results[name] = (False, f"{type(error).__name__}: {error}")
        if all(passed for passed, _ in results.values()) or time.monotonic() > deadline:
            return results
        time.sleep(5)


def compose(*args):
    subprocess.run(["docker", "compose", *args], check=True)


def roll_dice():
    """Single rolls, then a batch of fair dice: returns the batch's trace id, or None."""
    for i in range(ROLLS):
        die = ("fair", "risky", "no-such-die")[i % 3]
        with contextlib.suppress(requests.RequestException):  # the checks tell what went wrong
            requests.get(f"{FRONTEND}/roll", params={"die": die}, timeout=10)
    try:
        answer = requests.get(f"{FRONTEND}/roll-async", params={"die": "fair", "times": BATCH}, timeout=10)
        return answer.json().get("trace_id")
    except (requests.RequestException, ValueError, AttributeError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m stackcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv)
    compose("up", "-d", "--build", "--wait")
    try:
        batch_trace_id = roll_dice()
        results = check_all(time.monotonic() + WAIT_SECONDS, batch_trace_id)
    finally:
        if not args.keep:
            compose("down", "--volumes")
    for name, (passed, detail) in results.items():
        print(f"{'pass' if passed else 'FAIL'}  {name}: {detail}")
    return 0 if all(passed for passed, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
