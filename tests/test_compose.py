"""The docker compose path, checked without a Docker engine: schemas, linters, and that
every name, port and file agrees across compose, the configs and the contract."""

import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from ops.grafana_links import explore_trace_url
from ops.logs import JsonLineFormatter, ServiceContextFilter
from ops.services import SERVICES
from runtime import REPO
from runtime.launcher.gunicorn import gunicorn_command

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES_IN_COMPOSE = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((REPO / "stack/prometheus/prometheus.yml").read_text())
TEMPO = yaml.safe_load((REPO / "stack/tempo/tempo.yaml").read_text())
LOKI = yaml.safe_load((REPO / "stack/loki/loki.yaml").read_text())
DATASOURCES = yaml.safe_load((REPO / "stack/grafana/provisioning/datasources/datasources.yaml").read_text())
ALLOY = (REPO / "stack/alloy/config.alloy").read_text()
DESIGN = REPO.parent / "shared" / "design.md"

# The contract's table: compose service -> (local port, container_name, entry point)
CONTRACT = {
    "die-service": (8103, "die-service-stage3", "diespec.app:create_app()"),
    "dice-roller": (8104, "dice-roller-stage3", "roller.app:create_app()"),
    "frontend": (8105, "frontend-stage3", "frontend_site.wsgi:application"),
}


# Where every published port listens: loopback, unless the user opens the stack on purpose.
BIND = "${SANDBOX_BIND_ADDRESS:-127.0.0.1}"


def container_command(entry_point):
    """What the local run executes, with the image's `python` for this interpreter."""
    return ["python", *gunicorn_command(entry_point, "0.0.0.0:8000")[1:]]


def test_compose_files_follow_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         "docker-compose.yml", "docker-compose.monitoring.yml"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version" not in COMPOSE


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "Dockerfile"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_passes_promtool():
    result = subprocess.run(["promtool", "check", "config", "stack/prometheus/prometheus.yml"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_config_file_parses():
    for path in [*REPO.glob("ops/**/*.y*ml"), *REPO.glob("docker-compose*.yml")]:
        assert yaml.safe_load(path.read_text()) is not None, path
    for path in [*REPO.glob("dashboards/*.json"), REPO / "diespec/die_specifications.json"]:
        json.loads(path.read_text())
    assert ALLOY.count("{") == ALLOY.count("}")


def test_alloy_references_only_components_it_defines():
    defined = set(re.findall(r'^([a-z_.]+) "([a-z_]+)" \{', ALLOY, re.M))
    used = set(re.findall(
        r"\b((?:otelcol|loki|discovery)\.[a-z_.]+?)\.([a-z_]+)\.(?:input|receiver|targets|rules)\b", ALLOY
    ))
    assert used and used <= defined, used - defined


def test_contract_table_matches_design_md():
    if not DESIGN.exists():
        # Its table, copied above (CONTRACT), is checked against compose and ops/services.py either way.
        pytest.skip("the project's contract (its design document) is not part of this checkout")
    text = DESIGN.read_text()
    for name, (port, container, _) in CONTRACT.items():
        row = next(line for line in text.splitlines() if f"`{name}`" in line and "|" in line)
        assert str(port) in row and f"`{container}`" in row, row


@pytest.mark.parametrize("name", CONTRACT)
def test_app_containers_match_contract_and_local_run(name):
    port, container, entry_point = CONTRACT[name]
    service = SERVICES_IN_COMPOSE[name]
    assert service["container_name"] == container
    assert service["ports"] == [f"{BIND}:{port}:8000"]
    assert service["command"] == container_command(entry_point)
    # `make run` (runtime) and the tests start the same thing, from the one table of services.
    assert (name, port, entry_point, container) in [
        (s.name, s.local_port, s.entry_point, s.container) for s in SERVICES
    ]
    assert service["environment"]["OTEL_SERVICE_NAME"] == name
    assert service["environment"]["PYROSCOPE_SERVER_ADDRESS"] == "http://pyroscope:4040"
    assert service["healthcheck"]["test"][0] == "CMD"


def test_dockerfile_runs_the_local_command_as_non_root():
    dockerfile = (REPO / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert cmd == container_command("diespec.app:create_app()")
    assert re.search(r"^USER \d+$", dockerfile, re.M)
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", dockerfile, re.M)
    healthcheck = json.loads(re.search(r"CMD (\[\"python\", \"-c\".*\])$", dockerfile, re.M).group(1))
    assert SERVICES_IN_COMPOSE["die-service"]["healthcheck"]["test"][1:] == healthcheck


def test_every_published_port_listens_on_loopback_unless_opened_on_purpose():
    published = {name: service.get("ports", []) for name, service in SERVICES_IN_COMPOSE.items()}
    assert sum(len(ports) for ports in published.values()) == 12  # Pyroscope's 4040, Alertmanager's 9093
    for name, ports in published.items():
        assert all(port.startswith(BIND + ":") and port.count(":") == 3 for port in ports), (name, ports)
    assert "SANDBOX_BIND_ADDRESS=0.0.0.0 docker compose up -d" in (REPO / "docs/compose.md").read_text()


def test_services_start_in_dependency_order():
    assert SERVICES_IN_COMPOSE["dice-roller"]["depends_on"] == {"die-service": {"condition": "service_healthy"}}
    assert SERVICES_IN_COMPOSE["frontend"]["depends_on"] == {
        "die-service": {"condition": "service_healthy"}, "dice-roller": {"condition": "service_healthy"},
    }
    for name, service in SERVICES_IN_COMPOSE.items():
        assert set(service.get("depends_on", {})) <= set(SERVICES_IN_COMPOSE), name


def test_image_tags_are_pinned():
    for service in SERVICES_IN_COMPOSE.values():
        image = service["image"]
        # PostgreSQL's releases are major.minor (18.6); everything else's major.minor.patch.
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?", image) or image == "dice-sandbox:stage3", image


def test_every_mounted_file_exists():
    for name, service in SERVICES_IN_COMPOSE.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source}"


def test_prometheus_scrapes_each_container_under_its_job_name():
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in PROMETHEUS["scrape_configs"]}
    assert jobs == {
        **{container: [f"{container}:8000"] for _, container, _ in CONTRACT.values()},
        "postgres-exporter": [f"{SERVICES_IN_COMPOSE['postgres-exporter']['container_name']}:9187"],
    }
    flags = SERVICES_IN_COMPOSE["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in flags and "--enable-feature=exemplar-storage" in flags
    # Prometheus reaches the frontend by container name: Django must accept that host.
    from frontend_site import settings

    assert {"frontend", "frontend-stage3"} <= set(settings.ALLOWED_HOSTS)


def test_traces_flow_services_to_alloy_to_tempo_to_prometheus():
    for name in CONTRACT:
        assert SERVICES_IN_COMPOSE[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://alloy:4318"
    assert 'endpoint = "0.0.0.0:4318"' in ALLOY and f"{BIND}:4318:4318" in SERVICES_IN_COMPOSE["alloy"]["ports"]
    tempo_grpc = TEMPO["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert re.search(r'endpoint = "tempo:(\d+)"', ALLOY).group(1) == tempo_grpc.rsplit(":", 1)[1]
    loki_url = re.search(r'url = "http://loki:(\d+)/loki/api/v1/push"', ALLOY)
    assert loki_url and int(loki_url.group(1)) == LOKI["server"]["http_listen_port"]
    remote_write = TEMPO["metrics_generator"]["storage"]["remote_write"][0]
    assert remote_write["url"] == "http://prometheus:9090/api/v1/write" and remote_write["send_exemplars"]
    processors = TEMPO["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert {"service-graphs", "span-metrics"} <= set(processors)


def test_logs_are_labelled_as_the_dashboards_expect():
    assert '"__meta_docker_container_name"' in ALLOY and 'target_label  = "container_name"' in ALLOY
    assert re.search(r"stage\.labels \{\s*values = \{level = \"\"", ALLOY)


def test_datasources_have_fixed_uids_and_link_to_each_other():
    datasources = {ds["uid"]: ds for ds in DATASOURCES["datasources"]}
    assert set(datasources) == {"prometheus", "tempo", "loki", "pyroscope", "alertmanager"}
    urls = {uid: ds["url"] for uid, ds in datasources.items()}
    assert urls == {"prometheus": "http://prometheus:9090", "tempo": "http://tempo:3200", "loki": "http://loki:3100",
                    "pyroscope": "http://pyroscope:4040", "alertmanager": "http://alertmanager:9093"}
    tempo = datasources["tempo"]["jsonData"]
    # A span opens its own CPU profile: the agent's service_name label from the span's service.name.
    assert tempo["tracesToProfiles"]["datasourceUid"] == "pyroscope"
    assert tempo["tracesToProfiles"]["profileTypeId"] == "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    assert tempo["tracesToProfiles"]["tags"] == [{"key": "service.name", "value": "service_name"}]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus"
    assert datasources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0] == {
        "name": "trace_id", "datasourceUid": "tempo"}
    assert datasources["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"] == "tempo"
    for path in REPO.glob("dashboards/*.json"):
        uids = set(re.findall(r'"uid":\s*"([^"]+)"', path.read_text()))
        assert not {uid for uid in uids if uid in ("prometheus", "tempo", "loki", "pyroscope", "alertmanager")} \
            - set(datasources)


def test_trace_links_open_the_provisioned_tempo_datasource():
    url = explore_trace_url("http://localhost:3000", "5b8efff798038103d269b633813fc60c")
    pane = json.loads(parse_qs(urlsplit(url).query)["panes"][0])["trace"]
    tempo = [ds for ds in DATASOURCES["datasources"] if ds["type"] == "tempo"]
    assert [ds["uid"] for ds in tempo] == [pane["datasource"]] == [pane["queries"][0]["datasource"]["uid"]]
    assert pane["queries"][0]["query"] == "5b8efff798038103d269b633813fc60c"


def test_loki_derived_field_finds_the_trace_id_in_our_real_log_lines():
    span_context = SpanContext(trace_id=0x5B8EFFF798038103D269B633813FC60C, span_id=0xEEE19B7EC3C1B174,
                               is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(span_context)):
        record = logging.LogRecord("roller.resources", logging.INFO, __file__, 1, "Roll completed", None, None)
        ServiceContextFilter("dice-roller").filter(record)
        line = JsonLineFormatter().format(record)
    trace_id = "5b8efff798038103d269b633813fc60c"
    regex = DATASOURCES["datasources"][2]["jsonData"]["derivedFields"][0]["matcherRegex"]
    assert re.search(regex, line).group(1) == trace_id
    query = DATASOURCES["datasources"][1]["jsonData"]["tracesToLogsV2"]["query"]
    assert "__trace.traceId" in query and "container_name" in query


def test_one_service_builds_the_image_and_the_others_never_pull_it():
    builders = [name for name, service in SERVICES_IN_COMPOSE.items() if "build" in service]
    assert builders == ["die-service"] and SERVICES_IN_COMPOSE["die-service"]["pull_policy"] == "build"
    for name in ("dice-roller", "frontend"):
        service = SERVICES_IN_COMPOSE[name]
        assert service["image"] == "dice-sandbox:stage3" and service["pull_policy"] == "never", name
        assert "die-service" in service["depends_on"]  # so the build comes first


def test_alloy_reads_only_this_stacks_containers():
    """A keep rule on the targets (discovery.relabel), feeding loki.source.docker, which then
    keeps the targets' labels; new containers show up within seconds."""
    relabel = re.search(r'discovery\.relabel "(\w+)" \{(.*?)\n\}', ALLOY, re.S)
    name, body = relabel.groups()
    assert "targets = discovery.docker.containers.targets" in body
    # By the compose project's label, which compose sets on every container of this file,
    # not by a container name that another project could use as well.
    keep = re.search(r'rule \{\s*source_labels = \["__meta_docker_container_label_com_docker_compose_project"\]'
                     r'\s*regex\s*= "(.*?)"\s*action\s*= "keep"', body)
    assert keep, body
    pattern = re.compile(keep.group(1))
    assert pattern.fullmatch(COMPOSE["name"])
    assert not pattern.fullmatch("my-other-project") and not pattern.fullmatch(COMPOSE["name"] + "-old")
    assert "__meta_docker_container_name\"]\n    regex         = \"/(.*-stage3)\"" not in body
    source = re.search(r'loki\.source\.docker "\w+" \{(.*?)\n\}', ALLOY, re.S).group(1)
    assert f"targets          = discovery.relabel.{name}.output" in source and "relabel_rules" not in source
    assert 'refresh_interval = "5s"' in source
    assert re.search(r'discovery\.docker "containers" \{[^}]*refresh_interval = "5s"', ALLOY)


def test_the_die_service_waits_for_postgresql_which_is_not_published():
    die_service, postgres = SERVICES_IN_COMPOSE["die-service"], SERVICES_IN_COMPOSE["postgres"]
    assert die_service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "ports" not in postgres and "ports" not in SERVICES_IN_COMPOSE["postgres-exporter"]
    password = "${POSTGRES_PASSWORD:-dice-sandbox-only}"
    assert die_service["environment"]["DATABASE_URL"] == f"postgresql://dice:{password}@postgres:5432/dice"
    assert postgres["environment"]["POSTGRES_PASSWORD"] == password
    assert SERVICES_IN_COMPOSE["postgres-exporter"]["environment"]["DATA_SOURCE_PASS"] == password
    assert postgres["healthcheck"]["test"] == ["CMD", "pg_isready", "-U", "dice", "-d", "dice"]
    assert "POSTGRES_PASSWORD" in (REPO / "docs/compose.md").read_text()
    # The settings the die service gets are good ones (the password is whatever .env says).
    from ops.settings import SETTINGS

    url = die_service["environment"]["DATABASE_URL"].replace(password, "dice-sandbox-only")
    assert SETTINGS["DATABASE_URL"].read({"DATABASE_URL": url}) == url


def test_only_the_stacks_configs_live_under_stack_and_ops_holds_what_the_services_share():
    assert sorted(path.name for path in (REPO / "stack").iterdir()) == [
        "alertmanager", "alloy", "grafana", "loki", "postgres", "prometheus", "tempo"
    ]
    assert not [path for path in (REPO / "ops").iterdir() if path.is_dir() and path.name != "__pycache__"]


def test_the_die_service_reads_the_specifications_file_mounted_read_only():
    assert ("./diespec/die_specifications.json:/app/diespec/die_specifications.json:ro"
            in SERVICES_IN_COMPOSE["die-service"]["volumes"])


def test_the_docs_name_the_image_tags_compose_runs():
    """Every pinned image, the services' own Python base included, is named in the Versions table."""
    readme = (REPO / "docs/compose.md").read_text()
    python_base = re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), re.M).group(1)
    images = [s["image"] for s in SERVICES_IN_COMPOSE.values() if s["image"] != "dice-sandbox:stage3"]
    for image in [*images, python_base]:
        assert f"`{image}`" in readme, image


def test_the_readme_lists_the_versions_compose_runs():
    """"What you get" names each component at the minor release its image pins."""
    names = {"postgres": "PostgreSQL", "grafana/grafana": "Grafana", "grafana/tempo": "Tempo", "grafana/loki": "Loki",
             "prom/prometheus": "Prometheus", "grafana/pyroscope": "Pyroscope", "grafana/alloy": "Alloy"}
    readme = (REPO / "README.md").read_text()
    for service in SERVICES_IN_COMPOSE.values():
        image, _, tag = service["image"].partition(":")
        if image in names:
            minor = ".".join(tag.lstrip("v").split(".")[:2])
            assert re.search(rf"\b{names[image]} {re.escape(minor)}\b", readme), (image, minor)


def test_health_checks_where_the_image_has_a_shell_and_dependents_wait_for_them():
    """Prometheus' and Alertmanager's images are busybox's: wget asks their readiness endpoints.
    Tempo 3's, Loki's and Pyroscope's are distroless, with no shell: compose can only wait for them to start."""
    assert SERVICES_IN_COMPOSE["prometheus"]["healthcheck"]["test"] == [
        "CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/ready"]
    assert SERVICES_IN_COMPOSE["alertmanager"]["healthcheck"]["test"] == [
        "CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9093/-/ready"]
    assert not {"tempo", "loki", "pyroscope"} & {name for name, s in SERVICES_IN_COMPOSE.items() if "healthcheck" in s}
    for name, service in SERVICES_IN_COMPOSE.items():
        for dependency, condition in service.get("depends_on", {}).items():
            wanted = "service_healthy" if "healthcheck" in SERVICES_IN_COMPOSE[dependency] else "service_started"
            assert condition["condition"] == wanted, (name, dependency)


def test_no_usage_reports_and_no_settings_grafana_removed():
    assert TEMPO["usage_report"]["reporting_enabled"] is False and LOKI["analytics"]["reporting_enabled"] is False
    tempo = next(d for d in DATASOURCES["datasources"] if d["uid"] == "tempo")
    assert "lokiSearch" not in tempo["jsonData"]  # gone since Grafana 11
    # traceToProfiles and tracesEmbeddedFlameGraph are no longer toggles: Grafana 13 knows neither.
    assert "GF_FEATURE_TOGGLES_ENABLE" not in SERVICES_IN_COMPOSE["grafana"]["environment"]


def test_anonymous_users_may_use_explore_without_the_removed_viewers_can_edit():
    grafana = SERVICES_IN_COMPOSE["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Editor" and "GF_USERS_VIEWERS_CAN_EDIT" not in grafana
    provider = yaml.safe_load((REPO / "stack/grafana/provisioning/dashboards/dashboards.yaml").read_text())
    assert all(p.get("allowUiUpdates") is False for p in provider["providers"])


def test_the_github_workflow_is_valid_and_runs_the_tests_and_the_stack_check():
    path = REPO / ".github/workflows/ci.yml"
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [step.get("run") for job in yaml.safe_load(path.read_text())["jobs"].values() for step in job["steps"]]
    assert "bash .ci/run" in steps and "make stack-check" in steps
    # Node 24 majors: GitHub's runners dropped the Node 20 of checkout@v4 and setup-python@v5.
    uses = {step["uses"].split("@")[0]: step["uses"].split("@")[1]
            for job in yaml.safe_load(path.read_text())["jobs"].values() for step in job["steps"] if "uses" in step}
    assert uses == {"actions/checkout": "v6", "actions/setup-python": "v6"}


def test_tempo_3_runs_monolithic_with_one_data_folder_and_search_shows_the_newest_traces():
    """Tempo 3 (docs/compose.md, "Versions"): no ingester or compactor blocks (it refuses them), its
    live-store and scheduler under the one folder its user may write, retention at 24 h on the
    backend worker (336 h without), search without the 30 s cutoff meant for Kafka's lag, no
    local-blocks processor, and a short stop: its image is distroless, with no health check."""
    assert not {"ingester", "compactor", "ingester_client", "metrics_generator_client"} & set(TEMPO)
    assert "traces_storage" not in TEMPO["metrics_generator"]
    paths = [TEMPO["live_store"]["wal"]["path"], TEMPO["live_store"]["shutdown_marker_dir"],
             TEMPO["backend_scheduler"]["local_work_path"], TEMPO["metrics_generator"]["storage"]["path"],
             TEMPO["storage"]["trace"]["wal"]["path"], TEMPO["storage"]["trace"]["local"]["path"]]
    assert all(path.startswith("/tmp/tempo/") for path in paths), paths
    assert TEMPO["backend_worker"]["compaction"]["block_retention"] == "24h"
    assert TEMPO["query_frontend"]["query_end_cutoff"] == "0s" and TEMPO["live_store"]["fail_on_high_lag"] is False
    assert TEMPO["overrides"]["defaults"]["metrics_generator"]["processors"] == ["service-graphs", "span-metrics"]
    assert SERVICES_IN_COMPOSE["tempo"]["stop_grace_period"] == "10s"


def test_prometheus_loads_the_slo_rules_and_alerts_alertmanager_which_groups_by_objective_and_severity(tmp_path):
    """The rules directory is mounted where prometheus.yml looks for it; Alertmanager is the one target of
    `alerting`, by its compose name and port; its route groups by `slo` and `severity`, and its receivers
    send nothing off the machine (a learner watches them in its UI); its config passes amtool."""
    prometheus = SERVICES_IN_COMPOSE["prometheus"]
    assert "./stack/prometheus/rules:/etc/prometheus/rules:ro" in prometheus["volumes"]
    assert PROMETHEUS["rule_files"] == ["rules/*.yml"]
    assert "--storage.tsdb.retention.time=30d" in prometheus["command"]  # the SLOs' 30-day window
    [target] = PROMETHEUS["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    alertmanager = SERVICES_IN_COMPOSE["alertmanager"]
    assert target == "alertmanager:9093" and alertmanager["ports"] == [f"{BIND}:9093:9093"]
    assert re.fullmatch(r"prom/alertmanager:v\d+\.\d+\.\d+", alertmanager["image"])
    assert "--cluster.listen-address=" in alertmanager["command"]  # no gossip port
    config_path = "./stack/alertmanager/alertmanager.yml"
    assert f"{config_path}:/etc/alertmanager/alertmanager.yml:ro" in alertmanager["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    config = yaml.safe_load((REPO / config_path).read_text())
    assert config["route"]["group_by"] == ["slo", "severity"]
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    assert routes == {'severity="page"': "pages", 'severity="ticket"': "tickets"}
    assert [set(receiver) for receiver in config["receivers"]] == [{"name"}, {"name"}]
    checked = subprocess.run(["amtool", "check-config", config_path], cwd=REPO, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
