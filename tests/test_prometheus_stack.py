"""make run's Prometheus and Alertmanager (runtime/launcher/prometheus.py): the stack's config with
only hosts, ports and paths rewritten, the alerts' links on Prometheus' own pages, the two started
on loopback beside the services when their binaries are on PATH, said in the banner and recorded
in run.json, and a clear line when they are not."""

import json
import shutil
import socket
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from harness.ports import free_ports
from harness.processes import is_running
from ops.services import SERVICES
from runtime import REPO
from runtime.launcher.prometheus import (
    DEBIAN_NO_WEB_UI,
    INSTALL_HINT,
    PROMETHEUS_CONFIG,
    PrometheusStack,
    local_prometheus_config,
    local_rules,
    port_or_free_one,
    prometheus_command,
)
from tests.helpers import poll_until
from tests.make_run import MakeRun

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
LOCAL = {"die-service-stage3": "127.0.0.1:9103", "dice-roller-stage3": "127.0.0.1:9104",
         "frontend-stage3": "127.0.0.1:9105"}


def test_the_local_config_is_the_stacks_with_only_hosts_ports_and_paths_rewritten(tmp_path):
    stack = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    local = yaml.safe_load(local_prometheus_config(LOCAL, "127.0.0.1:9193"))
    assert local["global"] == stack["global"]  # the stack's intervals: 15 s
    jobs = {job["job_name"]: job["static_configs"] for job in local["scrape_configs"]}
    # The jobs keep their names and labels (the rules read job="frontend-stage3"); postgres-exporter has
    # nothing to scrape under make run.
    assert jobs == {job["job_name"]: [{**job["static_configs"][0], "targets": [LOCAL[job["job_name"]]]}]
                    for job in stack["scrape_configs"] if job["job_name"] in LOCAL}
    assert local["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9193"]}]}]
    [rules] = local["rule_files"]
    assert rules == str(REPO / "stack/prometheus/rules/*.yml")
    (tmp_path / "prometheus.yml").write_text(local_prometheus_config(LOCAL))
    checked = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                             text=True)
    assert checked.returncode == 0 and "24 rules found" in checked.stdout, checked.stdout + checked.stderr


STACK_RULES = PROMETHEUS_CONFIG.parent / "rules" / "slo.yml"


def _rules(text):
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def _graph_queries(link, prometheus):
    """The queries of a link to Prometheus' graph page, by graph, with its time ranges."""
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{prometheus}/graph", link
    query = parse_qs(parts.query)
    count = len([key for key in query if key.endswith(".expr")])
    return [query[f"g{index}.expr"][0] for index in range(count)], {query[f"g{index}.range_input"][0]
                                                                   for index in range(count)}


def test_make_runs_rules_are_the_stacks_with_the_alerts_links_on_its_own_prometheus(tmp_path):
    prometheus = "http://127.0.0.1:9190"
    local_text = local_rules(STACK_RULES.read_text(), prometheus)
    local, stack = _rules(local_text), _rules(STACK_RULES.read_text())
    links = ("dashboard", "explore")

    def without_links(rule):
        return {**rule, "annotations": {k: v for k, v in rule.get("annotations", {}).items() if k not in links}}

    assert [without_links(rule) for rule in local] == [without_links(rule) for rule in stack]
    assert "localhost:3000" not in local_text  # no Grafana under make run
    alerts = [(mine, theirs) for mine, theirs in zip(local, stack, strict=True) if "alert" in mine]
    assert len(alerts) == 4
    burn_rates = [f"slo:sli_error:ratio_rate{window} / on(slo) slo:error_budget:ratio"
                  for window in ("1h", "6h", "1d", "3d")]
    for mine, theirs in alerts:
        # The dashboard's link opened its SLO row's burn-rate panel: here, its four queries.
        assert _graph_queries(mine["annotations"]["dashboard"], prometheus) == (burn_rates, {"6h"})
        # Explore's link opened the alert's burn rate for its objective: the same query here, which
        # Prometheus fills in with the alert's objective as it did for Grafana's.
        [pane] = json.loads(parse_qs(urlsplit(theirs["annotations"]["explore"]).query)["panes"][0]).values()
        assert _graph_queries(mine["annotations"]["explore"], prometheus) == ([pane["queries"][0]["expr"]], {"6h"})
        assert "{{ $labels.slo }}" in mine["annotations"]["explore"]
    (tmp_path / "slo.yml").write_text(local_text)
    checked = subprocess.run(["promtool", "check", "rules", str(tmp_path / "slo.yml")], capture_output=True, text=True)
    assert checked.returncode == 0 and "24 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_without_alertmanager_no_alerts_are_sent_and_the_tests_may_shorten_the_intervals():
    local = yaml.safe_load(local_prometheus_config(LOCAL, scrape_interval="1s", evaluation_interval="2s"))
    assert "alerting" not in local and local["global"] == {"scrape_interval": "1s", "evaluation_interval": "2s"}


def test_the_local_flags_keep_what_compose_runs_prometheus_with():
    local = prometheus_command("prometheus", "prometheus.yml", "data", "127.0.0.1:9190", "http://127.0.0.1:9190")
    for flag in ("--storage.tsdb.retention.time=30d", "--enable-feature=exemplar-storage"):
        assert flag in COMPOSE["services"]["prometheus"]["command"] and flag in local
    assert "--web.listen-address=127.0.0.1:9190" in local


def test_without_the_binaries_make_run_says_how_to_get_them_and_carries_on(tmp_path):
    stack = PrometheusStack(tmp_path, tmp_path, LOCAL, which=lambda name: None).start()
    assert stack.run_fields() == {"prometheus": None, "alertmanager": None}
    [line] = stack.banner_lines()
    assert INSTALL_HINT in line and "not installed" in line
    stack.stop()  # nothing to stop, and no error
    assert not (tmp_path / "prometheus").exists()


def test_a_taken_port_gives_a_free_one_and_never_one_already_chosen():
    taken, other = free_ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        chosen = port_or_free_one(taken)
        assert chosen != taken
    assert port_or_free_one(other, taken=[other]) != other


needs_binaries = pytest.mark.skipif(not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
                                    reason=f"needs Debian's Prometheus and Alertmanager ({INSTALL_HINT})")


@pytest.mark.slow
@needs_binaries
def test_prometheus_and_alertmanager_start_on_loopback_with_the_rules_and_stop(tmp_path, shared_stack):
    addresses = {service.container: process.url.removeprefix("http://")
                 for service, process in zip(SERVICES, shared_stack.services, strict=True)}
    prometheus_port, alertmanager_port = free_ports(2)
    stack = PrometheusStack(tmp_path, tmp_path, addresses, prometheus_port, alertmanager_port).start()
    try:
        lines = stack.banner_lines()  # waits until both are ready
        prometheus, alertmanager = stack.run_fields()["prometheus"], stack.run_fields()["alertmanager"]
        # Debian's Alertmanager has no web pages: the banner gives its API and amtool, which list the alerts.
        assert DEBIAN_NO_WEB_UI in " ".join(requests.get(f"{alertmanager}/", timeout=5).text.split())
        assert lines == [f"  prometheus      {prometheus}  (the SLOs, the docs' PromQL)",
                         f"  alertmanager    {alertmanager}/api/v2/alerts  (the SLO alerts; this Alertmanager has no "
                         f"web pages: `amtool --alertmanager.url={alertmanager} alert query` lists them too)"]
        assert isinstance(requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json(), list)

        def scraped():
            targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return {(target["labels"]["job"], target["labels"]["instance"]) for target in targets}

        assert poll_until(lambda: scraped() == set(addresses.items()), timeout=20), scraped()
        groups = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {group["name"] for group in groups} == {"slo-objectives", "slo-sli", "slo-alerts"}
        # The alerts' links open this Prometheus, with queries it answers.
        alerts = [rule for group in groups for rule in group["rules"] if rule["type"] == "alerting"]
        for alert in alerts:
            for link in (alert["annotations"]["dashboard"], alert["annotations"]["explore"]):
                for query in _graph_queries(link, prometheus)[0]:
                    filled = query.replace("{{ $labels.slo }}", "roll-latency")
                    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": filled}, timeout=5).json()
                    assert answer["status"] == "success", (filled, answer)

        def alerting_there():
            answer = requests.get(f"{prometheus}/api/v1/alertmanagers", timeout=5).json()["data"]
            return [am["url"] for am in answer["activeAlertmanagers"]]

        assert poll_until(lambda: alerting_there() == [f"{alertmanager}/api/v2/alerts"], timeout=20)
        status = requests.get(f"{alertmanager}/api/v2/status", timeout=5).json()
        assert yaml.safe_load(status["config"]["original"])["route"]["group_by"] == ["slo", "severity"]
        assert status["cluster"]["status"] == "disabled"  # no gossip port
        assert (tmp_path / "prometheus/data").is_dir() and (tmp_path / "alertmanager/data").is_dir()
    finally:
        stack.stop()
    assert not any(is_running(backend.process.pid) for backend in stack.backends.values())


@pytest.mark.slow
@needs_binaries
def test_make_run_starts_them_says_where_in_its_banner_and_records_them_for_the_labs(tmp_path):
    run = MakeRun(tmp_path)
    try:
        run.wait_until_up()
        recorded = json.loads((tmp_path / "run.json").read_text())
        assert recorded["prometheus"] == f"http://127.0.0.1:{run.prometheus_port}"
        assert recorded["alertmanager"] == f"http://127.0.0.1:{run.alertmanager_port}"
        assert poll_until(lambda: f"prometheus      {recorded['prometheus']}" in (tmp_path / "run.log").read_text(),
                          timeout=30), (tmp_path / "run.log").read_text()
        assert requests.get(f"{recorded['alertmanager']}/-/ready", timeout=5).ok
        rules = requests.get(f"{recorded['prometheus']}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {group["name"] for group in rules} == {"slo-objectives", "slo-sli", "slo-alerts"}
    finally:
        run.stop()
    for url in (recorded["prometheus"], recorded["alertmanager"]):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/-/ready", timeout=2)
