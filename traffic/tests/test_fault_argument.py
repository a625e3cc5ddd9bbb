import argparse

import pytest

from ops.faults import Fault
from traffic.__main__ import fault_argument


@pytest.mark.parametrize(
    "text, parsed",
    [("die-service=error:503", ("die-service", Fault("error", 503))),
     ("frontend=delay:300", ("frontend", Fault("delay", 300))),
     ("database=delay:300", ("database", Fault("delay", 300))),
     ("database=error:broken", ("database", Fault("error", "broken"))),
     ("dice-roller=cpu:300", ("dice-roller", Fault("cpu", 300)))],
)
def test_faults_for_a_service_or_the_database(text, parsed):
    assert fault_argument(text) == parsed


@pytest.mark.parametrize(
    "text, expected",
    [("die-service=error:418",
      "die-service=delay:<0-10000>, die-service=cpu:<0-10000> or die-service=error:<500|502|503|504>"),
     ("database=error:", "database=delay:<0-10000> or database=error:<any word>"),
     ("database=cpu:300", "database=delay:<0-10000> or database=error:<any word>"),
     ("dice-roller=cpu:10001", "dice-roller=delay:<0-10000>, dice-roller=cpu:<0-10000> or"),
     ("databse=error:x", "the services are die-service, dice-roller, frontend, database")],
)
def test_a_bad_fault_says_what_is_expected(text, expected):
    with pytest.raises(argparse.ArgumentTypeError, match=expected.replace("|", r"\|")):
        fault_argument(text)


def test_dice_to_roll_are_identifiers():
    from traffic.__main__ import dice_argument

    assert dice_argument("fair, coin") == ["fair", "coin"]
    with pytest.raises(argparse.ArgumentTypeError):
        dice_argument("fair,<b>")
