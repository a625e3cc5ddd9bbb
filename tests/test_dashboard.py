"""Every Prometheus expression of the dashboard and of dashboards/README.md returns data
from a real Prometheus scraping the three services after realistic traffic."""

import json
import re
import time

import pytest
import yaml

from tests.helpers import REPO, Stack
from tests.prometheus_server import PrometheusServer, local_config

DASHBOARD = json.loads((REPO / "dashboards/dice-three-services.json").read_text())
QUERIES_PAGE = (REPO / "dashboards/README.md").read_text()
DATASOURCES = yaml.safe_load((REPO / "ops/grafana/provisioning/datasources/datasources.yaml").read_text())
ALLOY = (REPO / "ops/alloy/config.alloy").read_text()
# What Grafana substitutes, at sizes that suit a short test run scraped every second.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__range": "5m", "$die": ".*"}


def panels():
    return [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]


def targets(datasource_uid):
    return [
        (panel["title"], target)
        for panel in panels()
        for target in panel.get("targets", [])
        if target["datasource"]["uid"] == datasource_uid
    ]


def page_queries(language):
    return re.findall(rf"```{language}\n(.*?)\n```", QUERIES_PAGE, re.S)


def promql_expressions():
    found = [(title, target["expr"]) for title, target in targets("prometheus")]
    found += [("README", expr) for expr in page_queries("promql")]
    return found


def test_dashboard_structure():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert DASHBOARD["title"] == "Dice Roller — Three Services"
    uids = {datasource["uid"] for datasource in DATASOURCES["datasources"]}
    for panel in panels():
        if panel["type"] == "text":
            continue
        assert panel.get("targets"), f"{panel['title']} has no query"
        assert panel["datasource"]["uid"] in uids
        assert all(target["datasource"]["uid"] in uids for target in panel["targets"])
    assert {panel["title"] for panel in DASHBOARD["panels"] if panel["type"] == "row"} == {
        "Overview", "Die service", "Service to service", "Rolls", "Logs", "Traces"}
    latency = [p for p in panels() if "p95" in p["title"] or "Latency" in p["title"]]
    assert latency and all(t.get("exemplar") for p in latency for t in p["targets"])


def test_logql_uses_only_labels_alloy_sets():
    alloy_labels = set(re.findall(r'target_label\s*=\s*"(\w+)"', ALLOY))
    alloy_labels |= set(re.search(r"stage\.labels \{\s*values = \{([^}]*)\}", ALLOY).group(1).replace('""', "").replace("=", "").replace(",", " ").split())
    queries = [target["expr"] for _, target in targets("loki")] + page_queries("logql")
    assert queries
    for query in queries:
        selector = re.match(r"\{([^}]*)\}", query).group(1)
        used = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", selector))
        assert used <= alloy_labels, f"{query}: {used - alloy_labels}"


def test_traceql_queries_are_well_formed():
    queries = [target["query"] for _, target in targets("tempo") if target.get("queryType") == "traceql"]
    queries += page_queries("traceql")
    assert queries
    for query in queries:
        assert query.startswith("{") and query.count("{") == query.count("}")
        assert re.search(r"resource\.service\.name=\"(frontend|dice-roller|die-service)\"", query)


@pytest.mark.slow
def test_every_prometheus_expression_returns_data(tmp_path):
    stack = Stack(tmp_path, ROLL_MAX_DELAY_SECONDS="0.05").start()
    prometheus = None
    try:
        targets_by_job = {
            "die-service-stage3": stack.die_service.url.removeprefix("http://"),
            "dice-roller-stage3": stack.roller.url.removeprefix("http://"),
            "frontend-stage3": stack.frontend.url.removeprefix("http://"),
        }
        prometheus = PrometheusServer(local_config(targets_by_job), tmp_path).start()
        _traffic(stack, seconds=6)
        stack.die_service.stop()  # the dice roller sees connection errors
        for _ in range(3):
            stack.frontend.get("/roll", params={"die": "fair"})
        stack.die_service.start()
        _traffic(stack, seconds=6)
        time.sleep(3)  # two more scrapes

        empty = []
        for title, expression in promql_expressions():
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            if not prometheus.query(expression):
                empty.append(f"{title}: {expression}")
        assert not empty, "no data:\n" + "\n".join(empty)
    finally:
        if prometheus:
            prometheus.stop()
        stack.stop()


def _traffic(stack, seconds):
    deadline = time.monotonic() + seconds
    dice = ["fair", "risky", "risky", "risky", "d20", "coin", "no-such-die"]
    i = 0
    while time.monotonic() < deadline and i < 2000:
        stack.frontend.get("/roll", params={"die": dice[i % len(dice)]})
        if i % 20 == 0:
            stack.frontend.get("/")
        i += 1
