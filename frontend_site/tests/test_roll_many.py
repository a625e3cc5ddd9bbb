"""GET /roll-async through the frontend, and the page's "How many" field, against a fake roller."""

import pytest
from prometheus_client import REGISTRY

BATCH = {"die": "fair", "count": 3, "rolls": [4, 2, 6], "total": 12}


def roller_answers(roller, status, body):
    roller.routes["/roll-async"] = lambda q: (status, body)


def test_a_batch_is_forwarded_with_its_trace_id(client, roller):
    roller_answers(roller, 200, BATCH)
    response = client.get("/roll-async", {"die": "fair", "times": "3"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"die", "count", "rolls", "total", "trace_id"}
    assert (body["die"], body["count"], body["rolls"], body["total"]) == ("fair", 3, [4, 2, 6], 12)
    assert roller.requests[0][:2] == ("/roll-async", {"die": ["fair"], "times": ["3"]})


def test_a_failed_batch_passes_on_how_many_failed(client, roller):
    roller_answers(roller, 500, {"error": "die_failed", "message": "2 of 3 dice fell off the table.", "failed": 2})
    response = client.get("/roll-async", {"die": "risky", "times": "3"})
    assert response.status_code == 500
    assert response.json()["error"] == "die_failed" and response.json()["failed"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"die": "fair", "count": 3, "rolls": [4, 2], "total": 6},  # a roll short
        {"die": "fair", "count": 3, "rolls": [4, "2", 6], "total": 12},
        {"die": "fair", "count": 3, "total": 12},
        [4, 2, 6],
    ],
)
def test_an_unusable_batch_is_502(client, roller, body):
    roller_answers(roller, 200, body)
    response = client.get("/roll-async", {"die": "fair", "times": "3"})
    assert response.status_code == 502 and response.json()["error"] == "bad_gateway"


@pytest.mark.parametrize(
    "query, code",
    [
        ({"die": "fair"}, "missing_parameter"),
        ({"die": "fair", "times": "0"}, "invalid_times"),
        ({"die": "fair", "times": "21"}, "invalid_times"),
        ({"die": "fair", "times": "<b>3</b>"}, "invalid_times"),
        ({"die": "fair", "times": ["3", "3"]}, "invalid_times"),
        ({"times": "3"}, "missing_parameter"),
    ],
)
def test_bad_parameters_are_400_and_never_reach_the_roller(client, roller, query, code):
    response = client.get("/roll-async", query)
    assert response.status_code == 400 and response.json()["error"] == code
    assert "<b>" not in response.content.decode() and roller.requests == []


def batches_counted(batch_size, status):
    return REGISTRY.get_sample_value("async_roll_requests_total", {"batch_size": batch_size, "status": status}) or 0


def test_batches_are_counted_by_size_and_status(client, roller):
    roller_answers(roller, 200, BATCH)
    before = batches_counted("3", "200")
    for _ in range(2):
        client.get("/roll-async", {"die": "fair", "times": "3"})
    client.get("/roll-async", {"die": "fair", "times": "99"})  # refused: never a label value
    assert batches_counted("3", "200") - before == 2
    assert batches_counted("99", "400") == 0


def test_the_page_rolls_a_batch_without_javascript(client, roller):
    roller_answers(roller, 200, BATCH)
    response = client.get("/", {"die": "fair", "times": "3"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "3 dice: 4 + 2 + 6 = 12" in html and '<p id="result-value" class="result-value">12</p>' in html
    assert 'value="3"' in html  # the field keeps the chosen number
    assert roller.requests[0][0] == "/roll-async"


@pytest.mark.parametrize("times", [None, "1", ""])
def test_the_page_rolls_one_die_with_one_or_no_number(client, roller, times):
    roller.routes["/roll"] = lambda q: (200, {"die": "fair", "roll": 5})
    query = {"die": "fair"} if times is None else {"die": "fair", "times": times}
    html = client.get("/", query).content.decode()
    assert '<p id="result-value" class="result-value">5</p>' in html and "dice:" not in html
    assert [request[0] for request in roller.requests] == ["/roll"]


def test_the_page_says_how_many_dice_failed(client, roller):
    roller_answers(roller, 500, {"error": "die_failed", "message": "-", "failed": 1})
    html = client.get("/", {"die": "risky", "times": "4"}).content.decode()
    assert "1 of 4 dice failed" in html and "The die failed" in html


def test_the_page_refuses_a_bad_number_in_plain_words(client, roller):
    response = client.get("/", {"die": "fair", "times": "50"})
    assert response.status_code == 400 and "How many dice?" in response.content.decode()
    assert "50" not in response.content.decode().split("<main>")[1].split("</form>")[1]
    assert roller.requests == []
