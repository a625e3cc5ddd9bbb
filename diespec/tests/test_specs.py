import json

import pytest

from diespec.specs import SpecificationError, load_specifications, parse_specifications
from ops.settings import SETTINGS


def test_shipped_file_has_fair_and_risky_exactly_as_the_contract_says():
    specifications = load_specifications(SETTINGS["DIE_SPECIFICATIONS_FILE"].default)
    assert list(specifications)[:2] == ["fair", "risky"]
    assert specifications["fair"].to_dict() == {"identifier": "fair", "faces": [1, 2, 3, 4, 5, 6], "error_rate": 0.0}
    assert specifications["risky"].to_dict() == {"identifier": "risky", "faces": [2, 3, 4, 5, 6, 7], "error_rate": 0.1}


@pytest.mark.parametrize(
    "data, problem",
    [
        ([], "non-empty JSON object"),
        ({}, "non-empty JSON object"),
        ({"bad id": {"faces": [1], "error_rate": 0}}, "entry 'bad id': identifier"),
        ({"x" * 65: {"faces": [1], "error_rate": 0}}, "identifier must be"),
        ({"d": []}, "entry 'd': must be an object"),
        ({"d": {"faces": [], "error_rate": 0}}, "entry 'd': \"faces\" must be a non-empty list"),
        ({"d": {"faces": [1, 2.5], "error_rate": 0}}, "\"faces\" must be a non-empty list of integers"),
        ({"d": {"faces": [1, True], "error_rate": 0}}, "\"faces\""),
        ({"d": {"faces": "123", "error_rate": 0}}, "\"faces\""),
        ({"d": {"faces": [1]}}, "\"error_rate\" must be a number from 0 to 1"),
        ({"d": {"faces": [1], "error_rate": 1.5}}, "\"error_rate\""),
        ({"d": {"faces": [1], "error_rate": -0.1}}, "\"error_rate\""),
        ({"d": {"faces": [1], "error_rate": "0.1"}}, "\"error_rate\""),
    ],
)
def test_invalid_entries_are_named(data, problem):
    with pytest.raises(SpecificationError, match="spec.json") as error:
        parse_specifications(data, source="spec.json")
    assert problem in str(error.value)


def test_file_problems_name_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(SpecificationError, match=f"{missing}: file not found"):
        load_specifications(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SpecificationError, match=f"{broken}: not valid JSON"):
        load_specifications(broken)


def test_file_order_is_kept(tmp_path):
    path = tmp_path / "dice.json"
    path.write_text(json.dumps({"zeta": {"faces": [1], "error_rate": 0}, "alpha": {"faces": [2], "error_rate": 1}}))
    assert list(load_specifications(path)) == ["zeta", "alpha"]
