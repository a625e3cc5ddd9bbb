"""Input rules of the contract, shared by the three services."""

import re

IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
IDENTIFIER_RULE = "1 to 64 letters, digits, '_' or '-'"


def is_valid_identifier(value):
    return isinstance(value, str) and IDENTIFIER_PATTERN.fullmatch(value) is not None

