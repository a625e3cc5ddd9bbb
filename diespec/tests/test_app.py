import falcon
import pytest
from falcon import testing
from prometheus_client.parser import text_string_to_metric_families

from diespec.app import build_app
from ops import faults
from ops.faults import FaultInjector

FAULTS = FaultInjector("die-service", enabled=True)
DATABASE_FAULTS = FaultInjector(faults.DATABASE, enabled=True, parse=faults.parse_database_fault)


@pytest.fixture
def client(store):
    return testing.TestClient(build_app(store, FAULTS, DATABASE_FAULTS))


def test_service_info(client):
    response = client.simulate_get("/")
    assert response.status == falcon.HTTP_200
    assert response.json["service"] == "die-service"
    assert response.json["loaded_specifications"] == 2
    assert "/dice" in response.json["endpoints"] and response.json["version"]


def test_list_in_file_order_then_the_others_in_code_point_order(client, run_sql):
    run_sql("INSERT INTO die_specifications (identifier, faces, error_rate) "
            "VALUES ('zed', '[1]', 0), ('Zed', '[1]', 0), ('a-1', '[1]', 0)")
    assert client.simulate_get("/dice").json == {"identifiers": ["fair", "risky", "Zed", "a-1", "zed"]}


def test_one_specification(client):
    response = client.simulate_get("/dice", params={"identifier": "risky"})
    assert response.status_code == 200
    assert response.json == {"identifier": "risky", "faces": [2, 3, 4, 5, 6, 7], "error_rate": 0.1}


def test_unknown_identifier_is_404(client):
    response = client.simulate_get("/dice", params={"identifier": "loaded"})
    assert response.status_code == 404
    assert response.json["error"] == "unknown_die" and response.json["message"]


@pytest.mark.parametrize(
    "query", ["identifier=%3Cscript%3E", "identifier=" + "x" * 65, "identifier=a&identifier=b", "identifier=%C3%A9"]
)
def test_invalid_identifier_is_400_and_not_echoed(client, query):
    response = client.simulate_get("/dice", query_string=query)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_identifier"
    assert "<script>" not in response.text and "xxxxxxxx" not in response.text


def test_unknown_path_and_wrong_method_are_json(client):
    not_found = client.simulate_get("/nope")
    assert not_found.status_code == 404 and not_found.json["error"] == "not_found"
    wrong_method = client.simulate_post("/dice")
    assert wrong_method.status_code == 405 and wrong_method.json["error"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["allow"]


def test_errors_are_json_even_for_clients_that_do_not_ask_for_it(client):
    response = client.simulate_get("/nope", headers={"Accept": "text/html"})
    assert response.json["error"] == "not_found"


def test_probes(client, database_url):
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_get("/readyz").json == {"status": "ready", "database": database_url.split(":")[0]}


def _sample(client, name, labels):
    for family in text_string_to_metric_families(client.simulate_get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_count_requests_with_unknown_identifiers_as_other(client):
    before = {
        "fair": _sample(client, "die_specifications_requested_total", {"identifier": "fair"}),
        "other": _sample(client, "die_specifications_requested_total", {"identifier": "other"}),
        "list": _sample(client, "die_list_requests_total", {}),
    }
    client.simulate_get("/dice", params={"identifier": "fair"})
    client.simulate_get("/dice", params={"identifier": "nope-1"})
    client.simulate_get("/dice", params={"identifier": "nope-2"})
    client.simulate_get("/dice")
    assert _sample(client, "die_specifications_requested_total", {"identifier": "fair"}) == before["fair"] + 1
    assert _sample(client, "die_specifications_requested_total", {"identifier": "other"}) == before["other"] + 2
    assert _sample(client, "die_specifications_requested_total", {"identifier": "nope-1"}) == 0
    assert _sample(client, "die_list_requests_total", {}) == before["list"] + 1
    assert _sample(client, "die_specifications_loaded", {}) == 2
    assert _sample(client, "http_requests_total", {"route": "/dice", "status": "404", "method": "GET"}) >= 2
