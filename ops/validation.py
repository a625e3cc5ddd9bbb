"""Input rules of the contract, shared by the three services."""

import re

IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
IDENTIFIER_RULE = "1 to 64 letters, digits, '_' or '-'"


def is_valid_identifier(value):
    return isinstance(value, str) and IDENTIFIER_PATTERN.fullmatch(value) is not None


def identifier_error(name, values):
    """(code, message) when a query parameter's `values` are not one valid identifier,
    else None. The message never repeats the value."""
    if values in ([], [""]):
        return "missing_parameter", f"The '{name}' parameter is required."
    if len(values) != 1 or not is_valid_identifier(values[0]):
        return "invalid_identifier", f"The '{name}' parameter must be one identifier of {IDENTIFIER_RULE}."
    return None
