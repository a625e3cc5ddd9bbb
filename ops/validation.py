"""Input rules of the contract, shared by the three services."""

import re

IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
IDENTIFIER_RULE = "1 to 64 letters, digits, '_' or '-'"
# How many dice one /roll-async request rolls: plain ASCII digits, no sign, no spaces.
MAX_TIMES = 20
TIMES_PATTERN = re.compile(r"[1-9][0-9]?")
TIMES_RULE = f"a whole number from 1 to {MAX_TIMES}"


def is_valid_identifier(value):
    return isinstance(value, str) and IDENTIFIER_PATTERN.fullmatch(value) is not None


def parse_times(value):
    """The number of dice `value` asks for, or None when it is not one from 1 to MAX_TIMES.
    A regular expression, not int(): int() also takes " 3", "+3", "3_0" and "٣"."""
    if not isinstance(value, str) or TIMES_PATTERN.fullmatch(value) is None:
        return None
    times = int(value)
    return times if times <= MAX_TIMES else None


def die_problem(faces, error_rate):
    """What is wrong with a die's specification, or None. The die service checks its file
    with it, and the roller the die service's answers."""
    # bool is an int to Python, but not a die face nor a rate.
    if not isinstance(faces, list) or not faces or not all(
        isinstance(face, int) and not isinstance(face, bool) for face in faces
    ):
        return '"faces" must be a non-empty list of integers'
    if isinstance(error_rate, bool) or not isinstance(error_rate, (int, float)) or not 0 <= error_rate <= 1:
        return '"error_rate" must be a number from 0 to 1'
    return None

