"""The stack check's promises against answers shaped as each component's API documents them,
passing and failing, so that the check can fail (it runs for real wherever Docker exists)."""

import json
import os
import subprocess
import sys

from runtime import REPO
from stackcheck import promises


def resource_spans(service, spans=1):
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [{"name": "GET /roll"}] * spans}],
    }


TRACE_ID = "2f3e0cee77ae5dc9c17ade3689eb2e54"
SEARCH = {"traces": [{"traceID": TRACE_ID, "rootServiceName": "frontend", "rootTraceName": "GET /roll"}]}
FULL_TRACE = {
    "batches": [resource_spans("frontend", 2), resource_spans("dice-roller", 3), resource_spans("die-service")]
}


def test_three_service_trace():
    assert promises.three_service_trace(SEARCH, FULL_TRACE)[0]
    assert promises.three_service_trace(SEARCH, {"resourceSpans": FULL_TRACE["batches"]})[0]
    assert not promises.three_service_trace({"traces": []}, {})[0]
    passed, detail = promises.three_service_trace(SEARCH, {"batches": FULL_TRACE["batches"][:2]})
    assert not passed and "die-service" in detail


def query_trace(parent="c2VydmVy", system="postgresql"):
    """A roll's die-service spans as Tempo's /api/traces shows them (OTLP JSON, ids in base64)."""
    def attribute(key, value):
        return {"key": key, "value": {"stringValue": value}}

    return {"batches": [{
        "resource": {"attributes": [attribute("service.name", "die-service")]},
        "scopeSpans": [{"spans": [
            {"spanId": "c2VydmVy", "kind": "SPAN_KIND_SERVER", "name": "GET /dice", "attributes": []},
            {"spanId": "cXVlcnk=", "parentSpanId": parent, "kind": "SPAN_KIND_CLIENT", "name": "SELECT dice",
             "attributes": [attribute("db.system.name", system), attribute("db.query.text", "SELECT ...")]},
        ]}],
    }]}


def test_query_under_die_service():
    assert promises.query_under_die_service(query_trace())[0]
    passed, detail = promises.query_under_die_service(query_trace(parent="b3RoZXI="))
    assert not passed and "not a child" in detail
    assert not promises.query_under_die_service(query_trace(system="sqlite"))[0]
    assert not promises.query_under_die_service(None)[0]
    assert not promises.query_under_die_service(FULL_TRACE)[0]


def loki_answer(labels, *lines):
    return {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": labels, "values": [["1732690000000000000", line] for line in lines]}
    ]}}


LABELS = {"container_name": "frontend-stage3", "compose_service": "frontend", "level": "INFO", "service": "frontend"}
LINE = json.dumps({"message": "Roll request received", "trace_id": TRACE_ID, "level": "INFO"})


def test_labelled_json_logs():
    assert promises.labelled_json_logs(loki_answer(LABELS, "not json", LINE))[0]
    assert not promises.labelled_json_logs({"status": "success", "data": {"result": []}})[0]
    unlabelled = {key: value for key, value in LABELS.items() if key != "compose_service"}
    assert not promises.labelled_json_logs(loki_answer(unlabelled, LINE))[0]
    assert not promises.labelled_json_logs(loki_answer(LABELS, json.dumps({"message": "no trace"})))[0]
    assert promises.first_log_trace_id(loki_answer(LABELS, "plain", LINE)) == TRACE_ID


def test_log_trace_in_tempo():
    assert promises.log_trace_in_tempo(TRACE_ID, FULL_TRACE)[0]
    assert not promises.log_trace_in_tempo(TRACE_ID, None)[0]
    assert not promises.log_trace_in_tempo(None, FULL_TRACE)[0]


def targets(health_by_job):
    return {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": job, "instance": f"{job}:8000"}, "health": health, "lastError": ""}
        for job, health in health_by_job.items()
    ]}}


def test_targets_up():
    assert promises.targets_up(targets(dict.fromkeys(promises.JOBS, "up")))[0]
    passed, detail = promises.targets_up(targets({**dict.fromkeys(promises.JOBS, "up"), "frontend-stage3": "down"}))
    assert not passed and "frontend-stage3 (down)" in detail
    assert not promises.targets_up(targets({"die-service-stage3": "up"}))[0]


def test_exemplars():
    answer = {"status": "success", "data": [{
        "seriesLabels": {"__name__": "http_request_duration_seconds_bucket", "job": "frontend-stage3"},
        "exemplars": [{"labels": {"trace_id": TRACE_ID}, "value": "0.12", "timestamp": 1732690000.1}],
    }]}
    assert promises.has_exemplars(answer)[0]
    assert not promises.has_exemplars({"status": "success", "data": []})[0]
    answer["data"][0]["exemplars"][0]["labels"] = {"other": "x"}
    assert not promises.has_exemplars(answer)[0]


def test_series():
    answer = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "traces_spanmetrics_calls_total", "service": "frontend"}, "value": [1, "3"]}
    ]}}
    assert promises.has_series(answer, "traces_spanmetrics_calls_total")[0]
    assert not promises.has_series({"status": "success", "data": {"resultType": "vector", "result": []}}, "x")[0]


def test_datasources_healthy():
    ok = {"status": "OK", "message": "Data source is working"}
    assert promises.datasources_healthy(dict.fromkeys(promises.DATASOURCE_UIDS, ok))[0]
    failing = {"status": "ERROR", "message": "Post \"http://loki:3100\": connection refused"}
    passed, detail = promises.datasources_healthy({"prometheus": ok, "tempo": ok, "loki": failing})
    assert not passed and "loki: Post" in detail
    assert not promises.datasources_healthy({"prometheus": ok})[0]


def test_dashboard_provisioned():
    found = [{"uid": "dice", "title": promises.DASHBOARD_TITLE, "type": "dash-db", "folderTitle": "Dice sandbox"}]
    assert promises.dashboard_provisioned(found)[0]
    assert not promises.dashboard_provisioned([])[0]


def spans_named(service, *names):
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [{"name": name} for name in names]}],
    }


def test_batch_trace():
    hops = [spans_named("frontend", "GET /roll-async", "GET"), spans_named("die-service", "GET /dice", "SELECT dice")]
    roller = spans_named("dice-roller", "GET /roll-async", "GET", *["roll die"] * 5)
    assert promises.batch_trace(TRACE_ID, {"batches": [*hops, roller]}, 5)[0]
    assert promises.batch_trace(TRACE_ID, {"resourceSpans": [*hops, roller]}, 5)[0]
    four = spans_named("dice-roller", "GET /roll-async", "GET", *["roll die"] * 4)
    passed, detail = promises.batch_trace(TRACE_ID, {"batches": [*hops, four]}, 5)
    assert not passed and "4 roll die spans" in detail
    assert not promises.batch_trace(TRACE_ID, None, 5)[0]
    assert not promises.batch_trace(None, {"batches": [*hops, roller]}, 5)[0]


def vector(*metrics):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": metric, "value": [1, "3"]} for metric in metrics]}}


def test_span_metric_labels():
    labelled = {"__name__": "traces_spanmetrics_calls_total", "service": "frontend", "http_request_method": "GET",
                "http_route": "/roll", "http_response_status_code": "200"}
    assert promises.span_metric_labels(vector(labelled))[0]
    unlabelled = {key: value for key, value in labelled.items() if key != "http_route"}
    passed, detail = promises.span_metric_labels(vector(unlabelled))
    assert not passed and "http_route" in detail
    assert not promises.span_metric_labels(vector())[0]


def test_tempo_exemplars_carry_trace_id_under_its_own_label():
    answer = {"status": "success", "data": [{
        "seriesLabels": {"__name__": "traces_spanmetrics_latency_bucket"},
        "exemplars": [{"labels": {"traceID": TRACE_ID}, "value": "0.1", "timestamp": 1732690000.1}],
    }]}
    assert promises.has_exemplars(answer, label="traceID")[0]
    assert not promises.has_exemplars(answer)[0]  # not `trace_id`, as our services write


def test_trace_logs_found():
    assert promises.trace_logs_found(TRACE_ID, loki_answer(LABELS, LINE))[0]
    assert not promises.trace_logs_found(TRACE_ID, {"status": "success", "data": {"result": []}})[0]
    other = json.dumps({"message": "Roll completed", "trace_id": "f" * 32})
    assert not promises.trace_logs_found(TRACE_ID, loki_answer(LABELS, LINE, other))[0]
    assert not promises.trace_logs_found(None, loki_answer(LABELS, LINE))[0]


def test_other_project_ignored():
    empty = {"status": "success", "data": {"result": []}}
    ours = loki_answer(LABELS, LINE)
    assert promises.other_project_ignored("m", ours, empty)[0]
    passed, detail = promises.other_project_ignored("m", ours, loki_answer({"container_name": "x"}, "m"))
    assert not passed and "1 lines" in detail
    assert not promises.other_project_ignored("m", empty, empty)[0]  # too early to tell


def test_a_stack_that_fails_to_start_is_explained_and_taken_down(tmp_path):
    """`make stack-check` with a Docker whose `compose up` fails: the containers' states and
    logs are printed, and the stack is brought down all the same (a fake `docker` on PATH)."""
    calls = tmp_path / "calls"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "$*" >> {calls}\ncase "$*" in *" up "*) exit 1;; esac\nexit 0\n')
    docker.chmod(0o755)
    run = subprocess.run([sys.executable, "-m", "stackcheck"], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert run.returncode == 1
    assert "FAIL  the stack started and answered" in run.stdout
    made = calls.read_text().splitlines()
    assert made[0].startswith("compose up -d")
    assert "compose ps --all" in made and any(call.startswith("compose logs") for call in made)
    assert made[-1] == "compose down --volumes"


def test_profiles_arrived():
    assert promises.profiles_arrived({"die-service": 10, "dice-roller": 20, "frontend": 30})[0]
    passed, detail = promises.profiles_arrived({"die-service": 10, "dice-roller": 0, "frontend": 30})
    assert not passed and detail == "no CPU profile of dice-roller"


def test_a_span_profile_with_the_burner_on_top():
    from runtime.backends.profiles import CpuSample, flamegraph

    def graph(*stacks):
        return flamegraph([CpuSample("dice-roller", {}, stack, spent, 0) for stack, spent in stacks])

    burnt = graph((("handle", promises.BURNER), 290_000_000), (("handle", "json"), 10_000_000))
    assert promises.burner_on_top("00f067aa0ba902b7", burnt) == (
        True, f"span 00f067aa0ba902b7: {promises.BURNER} on top, 300 ms of CPU")
    assert not promises.burner_on_top("00f067aa0ba902b7", graph((("handle", "json"), 10_000_000)))[0]
    assert not promises.burner_on_top("00f067aa0ba902b7", {"names": ["total"], "levels": [], "total": "0"})[0]
    assert not promises.burner_on_top(None, burnt)[0]


def test_the_faulted_services_server_span_id_from_tempos_base64():
    span = {"spanId": "APBnqgupArc=", "kind": "SPAN_KIND_SERVER"}
    trace = {"batches": [{**spans_named("dice-roller"), "scopeSpans": [{"spans": [span]}]}]}
    assert promises.server_span_id(trace, "dice-roller") == "00f067aa0ba902b7"
    assert promises.server_span_id(trace, "frontend") is None and promises.server_span_id(None, "x") is None
