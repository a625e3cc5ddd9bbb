"""Prometheus and Alertmanager beside `make run`'s services, when Debian's binaries are on PATH
(`apt install prometheus prometheus-alertmanager`): the stack's own configuration
(stack/prometheus/prometheus.yml and its rules, stack/alertmanager/alertmanager.yml) with only the
hosts, ports and paths rewritten, listening on loopback, their data under the run's state folder.
The alerts' two links, which open Grafana under compose, open the same queries on Prometheus' own
graph page: make run has no Grafana.
The SLO rules and alerts (docs/slo.md) then work without Docker, and every PromQL query of the docs
can be tried locally. Without the binaries, make run says how to get them and carries on.

The tests start them the same way, with shorter scrape and evaluation intervals."""

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import requests
import yaml

from runtime import REPO

STACK = REPO / "stack"
PROMETHEUS_CONFIG = STACK / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = STACK / "alertmanager" / "alertmanager.yml"
DASHBOARD = REPO / "dashboards" / "dice-three-services.json"
# The ports compose publishes them on: make run takes them when they are free.
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
# Debian names Alertmanager's binary prometheus-alertmanager; upstream's archive, alertmanager.
BINARIES = {"prometheus": ("prometheus",), "alertmanager": ("prometheus-alertmanager", "alertmanager")}
INSTALL_HINT = "apt install prometheus prometheus-alertmanager"
# What Debian's Alertmanager answers on its front page, for want of the web UI it does not package.
DEBIAN_NO_WEB_UI = "does not include a web application"
# Compose keeps 30 days, the SLOs' window (docker-compose.yml): so does make run.
RETENTION = "30d"


def local_prometheus_config(targets, alertmanager=None, scrape_interval=None, evaluation_interval=None,
                            rules_folder=None):
    """stack/prometheus/prometheus.yml for a Prometheus on this machine, as YAML text: each
    `container:port` target pointed at its local address (`targets`: container name → host:port),
    the jobs with nothing to scrape here left out (postgres-exporter under make run), the rules
    read from `rules_folder` (make run's copies, local_rules) or this checkout, and the alerts sent
    to `alertmanager` (host:port), or nowhere. The tests shorten the intervals; make run keeps the stack's."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    if scrape_interval:
        config["global"]["scrape_interval"] = scrape_interval
    if evaluation_interval:
        config["global"]["evaluation_interval"] = evaluation_interval
    jobs = []
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [targets[host] for host, _ in map(_host_and_port, static["targets"]) if host in targets]
        if all(static["targets"] for static in job["static_configs"]):
            jobs.append(job)
    config["scrape_configs"] = jobs
    # Relative to the compose file's folder; the local config is written elsewhere.
    folder = Path(rules_folder) if rules_folder else PROMETHEUS_CONFIG.parent / "rules"
    config["rule_files"] = [str(folder / Path(pattern).name) for pattern in config["rule_files"]]
    if alertmanager:
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    else:
        del config["alerting"]
    header = f"# Written from {PROMETHEUS_CONFIG.relative_to(REPO)} by make run (runtime/launcher/prometheus.py).\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def local_rules(text, prometheus_url):
    """A rule file of stack/prometheus/rules/ for make run's Prometheus at `prometheus_url`, as YAML
    text: each alert's `dashboard` and `explore` links, which open Grafana, open the same queries on
    Prometheus' graph page instead (the dashboard panel's, a graph each; Explore's), over the same
    time range. Nothing else changes."""
    rules = yaml.safe_load(text)
    panels = {panel["id"]: panel for panel in json.loads(DASHBOARD.read_text())["panels"]}
    for group in rules["groups"]:
        for rule in group["rules"]:
            links = rule.get("annotations", {})
            if "dashboard" in links:
                links["dashboard"] = graph_link(prometheus_url, *_dashboard_queries(links["dashboard"], panels))
            if "explore" in links:
                links["explore"] = graph_link(prometheus_url, *_explore_queries(links["explore"]))
    header = "# Written from stack/prometheus/rules/ by make run: the alerts' links open this Prometheus.\n"
    return header + yaml.safe_dump(rules, sort_keys=False, allow_unicode=True, width=1000)


def graph_link(prometheus_url, queries, time_range):
    """Prometheus' graph page with `queries`, a graph each, over the last `time_range` ("6h"). An
    alert's template in a query ({{ $labels.slo }}) stays as it is, for Prometheus to fill in."""
    def encoded(query):
        parts = re.split(r"(\{\{.*?\}\})", query)
        return "".join(part if part.startswith("{{") else quote(part, safe="") for part in parts)

    return f"{prometheus_url}/graph?" + "&".join(
        f"g{index}.expr={encoded(query)}&g{index}.tab=0&g{index}.range_input={time_range}"
        for index, query in enumerate(queries))


def _dashboard_queries(link, panels):
    """(the queries of the panel a dashboard link opens, its time range): `panels`, the dashboard's by id."""
    query = parse_qs(urlsplit(link).query)
    panel = panels[int(query["viewPanel"][0].removeprefix("panel-"))]
    return [target["expr"] for target in panel["targets"]], query["from"][0].removeprefix("now-")


def _explore_queries(link):
    """(the queries of a link to Grafana's Explore, its time range)."""
    [pane] = json.loads(parse_qs(urlsplit(link).query)["panes"][0]).values()
    return [query["expr"] for query in pane["queries"]], pane["range"]["from"].removeprefix("now-")


def _host_and_port(target):
    host, _, port = target.rpartition(":")
    return host, port


def prometheus_command(binary, config_path, data_dir, address, external_url):
    return [binary, f"--config.file={config_path}", f"--storage.tsdb.path={data_dir}",
            f"--storage.tsdb.retention.time={RETENTION}", f"--web.listen-address={address}",
            f"--web.external-url={external_url}", "--enable-feature=exemplar-storage"]


def alertmanager_command(binary, config_path, data_dir, address, external_url):
    # An empty cluster address: one Alertmanager, no gossip port on every interface.
    return [binary, f"--config.file={config_path}", f"--storage.path={data_dir}", f"--web.listen-address={address}",
            f"--web.external-url={external_url}", "--cluster.listen-address="]


def port_or_free_one(port, taken=()):
    """`port` when nothing listens on 127.0.0.1 there, else a free one; never one of `taken`."""
    while True:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in taken:
            return port
        port = 0


class Backend:
    """Prometheus or Alertmanager as a child process on loopback, its output in `log_path`."""

    def __init__(self, name, command, url, log_path):
        self.name, self.command, self.url, self.log_path = name, command, url, Path(log_path)
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=REPO)
        return self

    def ready(self):
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        return False

    def has_web_pages(self):
        """Whether its front page is its web UI: Debian's Alertmanager ships none, and says so there."""
        with contextlib.suppress(requests.RequestException):
            front = requests.get(f"{self.url}/", timeout=2)
            return front.ok and DEBIAN_NO_WEB_UI not in " ".join(front.text.split())  # its lines wrap
        return False

    def wait_until_ready(self, timeout=20.0):
        """Whether it answers its readiness endpoint within `timeout` (False at once if it exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.ready():
                return True
            time.sleep(0.2)
        return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PrometheusStack:
    """make run's Prometheus and Alertmanager: `start()` starts the ones whose binaries are on
    PATH (Alertmanager only beside a Prometheus), `banner_lines()` says where they are or how to
    get them, `run_fields()` is what run.json records for the labs, `stop()` ends them."""

    def __init__(self, state_dir, logs_dir, service_addresses, prometheus_port=PROMETHEUS_PORT,
                 alertmanager_port=ALERTMANAGER_PORT, which=shutil.which):
        self.state_dir, self.logs_dir = Path(state_dir), Path(logs_dir)
        self.service_addresses = service_addresses  # container name → 127.0.0.1:port
        self.ports = {"prometheus": prometheus_port, "alertmanager": alertmanager_port}
        self.binaries = {name: next(filter(None, map(which, names)), None) for name, names in BINARIES.items()}
        self.backends = {}

    def start(self):
        if not self.binaries["prometheus"]:
            return self
        if self.binaries["alertmanager"]:
            self.backends["alertmanager"] = self._backend("alertmanager", ALERTMANAGER_CONFIG, alertmanager_command)
        folder = self.state_dir / "prometheus"
        (folder / "rules").mkdir(parents=True, exist_ok=True)
        alertmanager = self.backends.get("alertmanager")
        config_path = folder / "prometheus.yml"
        prometheus = self.backends["prometheus"] = self._backend("prometheus", config_path, prometheus_command)
        for rules in sorted((PROMETHEUS_CONFIG.parent / "rules").glob("*.yml")):
            (folder / "rules" / rules.name).write_text(local_rules(rules.read_text(), prometheus.url))
        config_path.write_text(local_prometheus_config(
            self.service_addresses, alertmanager.url.removeprefix("http://") if alertmanager else None,
            rules_folder=folder / "rules"))
        for backend in self.backends.values():
            backend.start()
        return self

    def _backend(self, name, config_path, command):
        port = port_or_free_one(self.ports[name], taken=[int(b.url.rsplit(":", 1)[1]) for b in self.backends.values()])
        url = f"http://127.0.0.1:{port}"
        data = self.state_dir / name / "data"
        data.mkdir(parents=True, exist_ok=True)
        return Backend(name, command(self.binaries[name], config_path, data, f"127.0.0.1:{port}", url), url,
                       self.logs_dir / f"{name}.log")

    def wait_until_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        return {name: backend.wait_until_ready(max(deadline - time.monotonic(), 0.1))
                for name, backend in self.backends.items()}

    def url(self, name):
        """Where `name` answers, or None when it does not run (not installed, or it stopped)."""
        backend = self.backends.get(name)
        return backend.url if backend and backend.process.poll() is None else None

    def run_fields(self):
        return {"prometheus": self.url("prometheus"), "alertmanager": self.url("alertmanager")}

    def banner_lines(self):
        """What the banner says of them: where they are, that one failed (and its log), or how to get them."""
        if not self.binaries["prometheus"]:
            missing = "Prometheus and Alertmanager" if not self.binaries["alertmanager"] else "Prometheus"
            return [f"  prometheus      {missing} not installed: `{INSTALL_HINT}` adds the SLO alerts (docs/slo.md)"]
        ready = self.wait_until_ready()
        lines = []
        for name, what in (("prometheus", "the SLOs, the docs' PromQL"), ("alertmanager", "the SLO alerts")):
            if name not in self.backends:
                lines.append(f"  {name:<15} not installed: `{INSTALL_HINT}` adds the alerts (docs/slo.md)")
            elif not ready[name]:
                lines.append(f"  {name:<15} did not start: see {self.backends[name].log_path}")
            elif name == "alertmanager" and not self.backends[name].has_web_pages():
                url = self.backends[name].url
                lines.append(f"  {name:<15} {url}/api/v2/alerts  ({what}; this Alertmanager has no web pages: "
                             f"`amtool --alertmanager.url={url} alert query` lists them too)")
            else:
                lines.append(f"  {name:<15} {self.backends[name].url}  ({what})")
        return lines

    def stop(self):
        for backend in self.backends.values():
            backend.stop()
