"""The dashboard and its queries: every Prometheus expression of the dashboard, of
dashboards/README.md and of docs/slo.md returns data from a real Prometheus scraping the three
services after realistic traffic, with the SLO rules loaded (their recording rules and a burn-rate
alert among the answers); every TraceQL and LogQL query parses in Grafana's own grammars."""

import json
import re
import subprocess
import time

import pytest
import yaml

from harness.stack import Stack
from labs.catalog import LABS
from runtime import REPO
from tests.helpers import poll_until
from tests.postgres_exporter import PostgresExporter
from tests.prometheus_server import PrometheusServer, check_config, local_config

DASHBOARD = json.loads((REPO / "dashboards/dice-three-services.json").read_text())
QUERIES_PAGE = (REPO / "dashboards/README.md").read_text()
SLO_PAGE = (REPO / "docs/slo.md").read_text()
DATASOURCES = yaml.safe_load((REPO / "stack/grafana/provisioning/datasources/datasources.yaml").read_text())
ALLOY = (REPO / "stack/alloy/config.alloy").read_text()
NODE_TOOLS = REPO / "tests/node_tools"
# What Grafana substitutes, at sizes that suit a short test run scraped every second.
DOOMED = {"faces": [1], "error_rate": 1}
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


def page_queries(language, page=QUERIES_PAGE):
    return re.findall(rf"```{language}\n(.*?)\n```", page, re.S)


def promql_expressions():
    found = [(title, target["expr"]) for title, target in targets("prometheus")]
    found += [("README", expr) for expr in page_queries("promql")]
    found += [("docs/slo.md", expr) for expr in page_queries("promql", SLO_PAGE)]
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
        "Overview", "Service-level objectives", "Saturation", "Die service", "Database", "Service to service",
        "Rolls", "Many dice at once", "Logs", "Traces", "Profiles"}
    # One CPU flame graph a service, each of its own service_name (the agent's label).
    flames = [panel for panel in panels() if panel["type"] == "flamegraph"]
    assert sorted(t["labelSelector"] for p in flames for t in p["targets"]) == [
        '{service_name="dice-roller"}', '{service_name="die-service"}', '{service_name="frontend"}']
    assert {t["profileTypeId"] for p in flames for t in p["targets"]} == {"process_cpu:cpu:nanoseconds:cpu:nanoseconds"}
    # Panels in seconds are latencies: their exemplars open the slow requests' traces.
    latency = [p for p in panels() if p.get("fieldConfig", {}).get("defaults", {}).get("unit") == "s"]
    assert len(latency) >= 6 and all(t.get("exemplar") for p in latency for t in p["targets"])


def test_logql_uses_only_labels_alloy_sets():
    alloy_labels = set(re.findall(r'target_label\s*=\s*"(\w+)"', ALLOY))
    parsed = re.search(r"stage\.labels \{\s*values = \{([^}]*)\}", ALLOY).group(1)
    alloy_labels |= set(re.findall(r"(\w+)\s*=", parsed))
    queries = [target["expr"] for _, target in targets("loki")] + page_queries("logql")
    assert queries
    for query in queries:
        selector = re.match(r"\{([^}]*)\}", query).group(1)
        used = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", selector))
        assert used <= alloy_labels, f"{query}: {used - alloy_labels}"


def shipped_queries():
    """[(language, query)] of every TraceQL and LogQL query we ship, Grafana's variables filled in."""
    found = [("traceql", t["query"]) for _, t in targets("tempo") if t.get("queryType") == "traceql"]
    found += [("logql", t["expr"]) for _, t in targets("loki")]
    found += [(language, query) for language in ("traceql", "logql") for query in page_queries(language)]
    # The labs' search links (labs/catalog/): Grafana's Explore gets them under compose.
    found += [("traceql", lab.search_query()) for lab in LABS.values() if lab.search]
    tempo = next(d for d in DATASOURCES["datasources"] if d["uid"] == "tempo")
    # `$$` is how the provisioning file writes a literal `$`.
    found.append(("logql", tempo["jsonData"]["tracesToLogsV2"]["query"].replace("$${__trace.traceId}", "0" * 32)))
    return [(language, query.replace("$die", "fair")) for language, query in found]


def grammar_errors(queries):
    """{query: [offsets]} where Grafana's own grammars (the query editors') find a syntax error."""
    checked = subprocess.run(
        ["node", "check.mjs"], cwd=NODE_TOOLS, input=json.dumps(queries), capture_output=True, text=True,
        timeout=60, check=True,
    )
    return {result["query"]: result["errors"] for result in json.loads(checked.stdout) if result["errors"]}


def test_every_traceql_and_logql_query_parses_in_grafanas_grammar():
    queries = shipped_queries()
    assert {language for language, _ in queries} == {"traceql", "logql"} and len(queries) > 10
    assert grammar_errors(queries) == {}


def test_the_grammar_check_finds_broken_queries():
    broken = [("traceql", '{kind=server && && span.http.route="/roll"}'), ("logql", '{level="ERROR"} | json |')]
    assert set(grammar_errors(broken)) == {query for _, query in broken}


def test_traceql_queries_name_the_stable_http_attributes_only():
    for _, query in shipped_queries():
        assert not re.search(r"\.(http\.(method|status_code|target|url)|net\.peer)", query), query


@pytest.mark.slow
def test_every_prometheus_expression_returns_data(tmp_path, postgres_server):
    # The shipped dice and one that always fails, so that a failed batch roll is certain; on
    # PostgreSQL (its `dice` database, as under compose), with the exporter compose runs.
    dice = {**json.loads((REPO / "diespec/die_specifications.json").read_text()), "doomed": DOOMED}
    (tmp_path / "dice.json").write_text(json.dumps(dice))
    stack = Stack(
        tmp_path, ROLL_MAX_DELAY_SECONDS="0.05", DIE_SPECIFICATIONS_FILE=tmp_path / "dice.json",
        DATABASE_URL=postgres_server.url,
    ).start()
    exporter = prometheus = None
    try:
        exporter = PostgresExporter(postgres_server).start()
        targets_by_job = {
            "die-service-stage3": stack.die_service.url.removeprefix("http://"),
            "dice-roller-stage3": stack.roller.url.removeprefix("http://"),
            "frontend-stage3": stack.frontend.url.removeprefix("http://"),
            "postgres-exporter-stage3": exporter.address,
        }
        config = local_config(targets_by_job)
        (tmp_path / "check.yml").write_text(config)
        checked = check_config(tmp_path / "check.yml")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        prometheus = PrometheusServer(config, tmp_path).start()
        # Each job scraped once before the traffic: a counter's increase is measured from its first
        # sample, so rolls made before it would count for no rate (and the burn-rate alert, no burn).
        up = prometheus.wait_for("up", lambda result: len(result) == len(targets_by_job))
        assert len(up) == len(targets_by_job), up
        fair = _traffic(stack, seconds=1.0)
        stack.die_service.stop()  # the dice roller sees connection errors
        for _ in range(3):
            stack.frontend.get("/roll", params={"die": "fair"})
        stack.die_service.start()
        fair += 3 + _traffic(stack, seconds=1.0)

        def empty_expressions():
            empty = []
            for title, expression in promql_expressions():
                for variable, value in GRAFANA_VARIABLES.items():
                    expression = expression.replace(variable, value)
                if not prometheus.query(expression):
                    empty.append(f"{title}: {expression}")
            return empty

        # Scraped and evaluated every second: ask until every expression has data, for 45 s at most
        # (the burn-rate alert needs its recording rules evaluated first; a busy machine delays both).
        poll_until(lambda: not empty_expressions(), timeout=45, interval=0.5)
        empty = empty_expressions()
        assert not empty, "no data:\n" + "\n".join(empty)

        # The four jobs are up, and Prometheus counts exactly the fair rolls sent.
        up = prometheus.query("up")
        assert {r["metric"]["job"]: r["value"][1] for r in up} == dict.fromkeys(
            [*targets_by_job][:3] + ["postgres-exporter"], "1")
        counted = prometheus.wait_for('sum(frontend_roll_requests_total{die_type="fair"})',
                                      lambda result: result and float(result[0]["value"][1]) == fair)
        assert float(counted[0]["value"][1]) == fair
    finally:
        for process in (prometheus, exporter):
            if process:
                process.stop()
        stack.stop()


def _traffic(stack, seconds):
    """Rolls of several dice for `seconds` (2000 at most); returns how many were fair."""
    deadline = time.monotonic() + seconds
    dice = ["fair", "risky", "doomed", "risky", "d20", "coin", "no-such-die"]  # doomed: a certain error
    i = 0
    while time.monotonic() < deadline and i < 2000:
        # Every tenth roll carries a fault, for the "Injected faults" panel; every fourth fails at the
        # dice roller (a 503 the frontend passes on): a burn of the availability budget fast enough
        # to page (docs/slo.md), for the SLO row's alerts panel.
        faults = [*(["fault.die-service=delay:1"] if i % 10 == 0 else []),
                  *(["fault.dice-roller=error:503"] if i % 4 == 1 else [])]
        headers = {"baggage": ",".join(faults)} if faults else {}
        stack.frontend.get("/roll", params={"die": dice[i % len(dice)]}, headers=headers)
        if i % 20 == 0:
            stack.frontend.get("/")
        if i % 5 == 0:  # batches, for the "Many dice at once" row; every other one fails
            batch_die = "doomed" if i % 10 else dice[i % len(dice)]
            stack.frontend.get("/roll-async", params={"die": batch_die, "times": 2 + i % 4})
        i += 1
    return sum(1 for n in range(i) if dice[n % len(dice)] == "fair")


def test_trace_to_metrics_queries_pass_promtool(tmp_path):
    tempo = next(d for d in DATASOURCES["datasources"] if d["uid"] == "tempo")
    queries = tempo["jsonData"]["tracesToMetrics"]["queries"]
    assert queries
    rules = {"groups": [{"name": "trace-to-metrics", "rules": [
        {"record": f"check:{i}", "expr": q["query"].replace("$$__tags", 'service="frontend"')}
        for i, q in enumerate(queries)
    ]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
