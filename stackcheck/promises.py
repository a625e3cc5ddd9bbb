"""What docs/compose.md promises of the compose stack, each a plain function over the answers of
the components' HTTP APIs (decoded JSON), returning (passed, detail)."""

import base64
import json

from backend_apis.pyroscope import hottest_function
from ops.services import SERVICES, spans_per_batch

SERVICE_NAMES = tuple(service.name for service in SERVICES)
# Prometheus' job names (stack/prometheus/prometheus.yml): the three services', and PostgreSQL's exporter.
JOBS = (*(service.container for service in SERVICES), "postgres-exporter")
LOG_LABELS = ("container_name", "compose_service", "level", "service")
DASHBOARD_TITLE = "Dice Roller — Three Services"
DATASOURCE_UIDS = ("prometheus", "tempo", "loki", "pyroscope")
# Where a CPU fault spends its time (ops/faults.py): on top of its span's profile.
BURNER = "burn_cpu_for_fault"


def trace_services(trace):
    """The service names in a trace as Tempo's /api/traces/<id> gives it (OTLP JSON,
    `batches` in Tempo's v1 API, `resourceSpans` elsewhere), with their span counts."""
    counts = {}
    for batch in trace.get("batches") or trace.get("resourceSpans") or []:
        attributes = {a["key"]: a["value"].get("stringValue") for a in batch["resource"]["attributes"]}
        spans = sum(len(scope.get("spans", [])) for scope in batch.get("scopeSpans", []))
        name = attributes.get("service.name")
        counts[name] = counts.get(name, 0) + spans
    return counts


def span_names(trace):
    """The names of every span of a trace as Tempo's /api/traces/<id> gives it."""
    return [
        span.get("name")
        for batch in trace.get("batches") or trace.get("resourceSpans") or []
        for scope in batch.get("scopeSpans", [])
        for span in scope.get("spans", [])
    ]


def batch_trace(trace_id, trace, times):
    """A batch of `times` dice (GET /roll-async) is one trace in Tempo: the hops of a roll
    plus one `roll die` span per die (`trace` is its /api/traces answer, or None)."""
    if not trace_id:
        return False, "the batch got no trace id from the frontend"
    names = span_names(trace or {})
    rolls = names.count("roll die")
    if rolls != times or len(names) != spans_per_batch(times):
        return False, (f"trace {trace_id}: {rolls} roll die spans of {len(names)}, "
                       f"expected {times} of {spans_per_batch(times)}")
    return True, f"trace {trace_id}: {times} roll die spans, {len(names)} spans in all"


def three_service_trace(search, trace):
    """A TraceQL search found roll traces, and the first holds spans of all three services."""
    found = search.get("traces") or []
    if not found:
        return False, "TraceQL found no roll trace"
    services = trace_services(trace)
    missing = [name for name in SERVICE_NAMES if not services.get(name)]
    if missing:
        return False, f"trace {found[0]['traceID']} has no spans of {', '.join(missing)}"
    return True, f"trace {found[0]['traceID']}: {services}"


def _spans_by_service(trace):
    """[(service name, span)] of a trace as Tempo's /api/traces/<id> gives it."""
    return [
        ({a["key"]: a["value"].get("stringValue") for a in batch["resource"]["attributes"]}.get("service.name"), span)
        for batch in trace.get("batches") or trace.get("resourceSpans") or []
        for scope in batch.get("scopeSpans", [])
        for span in scope.get("spans", [])
    ]


def query_under_die_service(trace):
    """A roll's trace holds the die service's PostgreSQL query: a CLIENT span with
    db.system.name=postgresql, a child of the die service's SERVER span."""
    die_service = [span for service, span in _spans_by_service(trace or {}) if service == "die-service"]
    servers = {span.get("spanId") for span in die_service if span.get("kind") == "SPAN_KIND_SERVER"}
    for span in die_service:
        attributes = {a["key"]: a["value"].get("stringValue") for a in span.get("attributes", [])}
        if span.get("kind") == "SPAN_KIND_CLIENT" and attributes.get("db.system.name") == "postgresql":
            if span.get("parentSpanId") in servers:
                return True, f"{span.get('name')}: {attributes.get('db.query.text')}"
            return False, f"the query span {span.get('name')} is not a child of the die service's SERVER span"
    return False, "no PostgreSQL query span of the die service in the roll's trace"


def log_lines(query_range):
    """[(labels, line)] of a Loki /loki/api/v1/query_range answer of streams."""
    return [
        (stream["stream"], line)
        for stream in query_range.get("data", {}).get("result", [])
        for _, line in stream.get("values", [])
    ]


def labelled_json_logs(query_range):
    """JSON log lines of our services, labelled as Alloy promises, and carrying a trace id."""
    lines = log_lines(query_range)
    if not lines:
        return False, "Loki has no lines of the *-stage3 containers"
    unlabelled = [labels for labels, _ in lines if not all(labels.get(name) for name in LOG_LABELS)]
    if unlabelled:
        return False, f"lines without {'/'.join(LOG_LABELS)}: {unlabelled[0]}"
    if not first_log_trace_id(query_range):
        return False, "no JSON line carries a trace_id"
    return True, f"{len(lines)} lines, labels {', '.join(LOG_LABELS)}"


def first_log_trace_id(query_range):
    for _, line in log_lines(query_range):
        try:
            trace_id = json.loads(line).get("trace_id")
        except (ValueError, AttributeError):
            continue
        if trace_id:
            return trace_id
    return None


def log_trace_in_tempo(trace_id, trace):
    """The trace a log line names is in Tempo (`trace` is its /api/traces answer, or None)."""
    if not trace_id:
        return False, "no log line with a trace_id"
    if not trace or not trace_services(trace):
        return False, f"Tempo has no trace {trace_id}"
    return True, f"trace {trace_id} of a log line is in Tempo"


def targets_up(targets):
    """The three services' and the exporter's scrape jobs are up (Prometheus /api/v1/targets)."""
    health = {t["labels"].get("job"): t["health"] for t in targets.get("data", {}).get("activeTargets", [])}
    down = [job for job in JOBS if health.get(job) != "up"]
    if down:
        return False, "not up: " + ", ".join(f"{job} ({health.get(job, 'missing')})" for job in down)
    return True, ", ".join(JOBS) + " up"


def has_exemplars(query_exemplars, label="trace_id"):
    """Exemplars carrying a trace id under `label` (Prometheus /api/v1/query_exemplars): our
    services write `trace_id`, Tempo's metrics generator `traceID`."""
    exemplars = [e for series in query_exemplars.get("data") or [] for e in series.get("exemplars", [])]
    with_trace = [e for e in exemplars if e.get("labels", {}).get(label)]
    if not with_trace:
        return False, f"no exemplar with a {label}"
    return True, f"{len(with_trace)} exemplars with a {label}"


SPAN_METRIC_LABELS = ("http_request_method", "http_route", "http_response_status_code")


def span_metric_labels(query):
    """Tempo's span metrics carry the stable HTTP attributes as labels (stack/tempo/tempo.yaml)."""
    result = query.get("data", {}).get("result", [])
    labelled = [series["metric"] for series in result if all(series["metric"].get(n) for n in SPAN_METRIC_LABELS)]
    if not labelled:
        return False, f"no traces_spanmetrics_calls_total series with {', '.join(SPAN_METRIC_LABELS)}"
    routes = sorted({metric["http_route"] for metric in labelled})
    return True, f"{len(labelled)} series labelled {', '.join(SPAN_METRIC_LABELS)}; routes {routes}"


def trace_logs_found(trace_id, query_range):
    """The Tempo datasource's trace-to-logs query, run for a roll's trace, finds its lines."""
    if not trace_id:
        return False, "no roll's trace id to look for"
    lines = [line for _, line in log_lines(query_range)]
    if not lines:
        return False, f"the trace-to-logs query found no line of trace {trace_id}"
    if not all(trace_id in line for line in lines):
        return False, "the trace-to-logs query found lines of other traces"
    return True, f"{len(lines)} log lines of trace {trace_id}"


def other_project_ignored(marker, our_recent_lines, marker_lines):
    """Alloy sends no line of another compose project's container to Loki: checked once Loki
    holds lines of ours written after that container spoke (so Alloy had its chance)."""
    if not log_lines(our_recent_lines):
        return False, "no line of ours since the other project's container spoke: too early to tell"
    found = log_lines(marker_lines)
    if found:
        return False, f"Loki holds {len(found)} lines of the other project's container ({marker})"
    return True, "no line of the other compose project's container"


def has_series(query, metric):
    """A PromQL instant query (Prometheus /api/v1/query) returned at least one series."""
    result = query.get("data", {}).get("result", [])
    if not result:
        return False, f"no {metric} series"
    return True, f"{len(result)} {metric} series"


def datasources_healthy(health_by_uid):
    """Each provisioned datasource answers Grafana's health check with OK."""
    failing = [
        f"{uid}: {(health or {}).get('message', 'no answer')}"
        for uid, health in ((uid, health_by_uid.get(uid)) for uid in DATASOURCE_UIDS)
        if (health or {}).get("status") != "OK"
    ]
    if failing:
        return False, "; ".join(failing)
    return True, ", ".join(DATASOURCE_UIDS) + " OK"


def dashboard_provisioned(search):
    """Grafana's /api/search lists the dashboard."""
    titles = [item.get("title") for item in search or []]
    if DASHBOARD_TITLE not in titles:
        return False, f"{DASHBOARD_TITLE!r} not among {titles}"
    return True, f"{DASHBOARD_TITLE!r} provisioned"


def server_span_id(trace, service):
    """The id (hex) of `service`'s SERVER span in a trace as Tempo's /api/traces/<id> gives it
    (its ids in base64), or None."""
    for name, span in _spans_by_service(trace or {}):
        if name == service and span.get("kind") == "SPAN_KIND_SERVER":
            return base64.b64decode(span["spanId"]).hex()
    return None


def profiles_arrived(totals):
    """Pyroscope holds CPU samples of each service: {service name: total nanoseconds}."""
    missing = [name for name in SERVICE_NAMES if not totals.get(name)]
    if missing:
        return False, f"no CPU profile of {', '.join(missing)}"
    return True, ", ".join(f"{name} {totals[name] / 1e6:.0f} ms" for name in SERVICE_NAMES)


def burner_on_top(span_id, graph):
    """A CPU-faulted span's own profile (SelectMergeSpanProfile) has the burner on top."""
    if not span_id:
        return False, "no SERVER span of the faulted service in the roll's trace"
    hottest = hottest_function(graph or {})
    if hottest != BURNER:
        return False, f"span {span_id}: {hottest or 'no samples'} on top, expected {BURNER}"
    return True, f"span {span_id}: {BURNER} on top, {int(graph['total']) / 1e6:.0f} ms of CPU"
