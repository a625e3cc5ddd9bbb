"""Every error the three services answer with, in one table: status, code and message.

An error's body is {"error": code, "message": message} (the frontend adds "trace_id").
A message may name a parameter but never repeats what the caller sent.
"""

from dataclasses import dataclass

from ops.validation import IDENTIFIER_RULE, TIMES_RULE, is_valid_identifier, parse_times


@dataclass(frozen=True)
class ErrorKind:
    status: int
    code: str
    message: str  # may hold {fields}, filled in by body()

    def body(self, **fields):
        return {"error": self.code, "message": self.message.format(**fields)}

    def with_status(self, status):
        return ErrorKind(status, self.code, self.message)


# Any service
BAD_REQUEST = ErrorKind(400, "bad_request", "The request could not be understood.")
MISSING_PARAMETER = ErrorKind(400, "missing_parameter", "The '{parameter}' parameter is required.")
INVALID_IDENTIFIER = ErrorKind(
    400, "invalid_identifier", f"The '{{parameter}}' parameter must be one identifier of {IDENTIFIER_RULE}."
)
INVALID_TIMES = ErrorKind(400, "invalid_times", f"The 'times' parameter must be {TIMES_RULE}, given once.")
NOT_FOUND = ErrorKind(404, "not_found", "There is nothing at this path.")
METHOD_NOT_ALLOWED = ErrorKind(405, "method_not_allowed", "This path does not accept that method.")
INTERNAL_ERROR = ErrorKind(500, "internal_error", "Something went wrong on our side.")
NOT_READY = ErrorKind(503, "not_ready", "{reason}")
# The status is the one the fault asks for: 500, 502, 503 or 504.
INJECTED_FAULT = ErrorKind(
    500, "injected_fault", "The {service} failed on purpose: the request carried the fault {fault}."
)

# The die service and the dice roller
UNKNOWN_DIE = ErrorKind(404, "unknown_die", "No die has that identifier.")

# The die service about its database. The message names no value from the row; `failure` is the
# failure's kind (diespec/database/failures.py), which names no host, user or value either.
DATABASE_UNAVAILABLE = ErrorKind(503, "database_unavailable", "The database could not answer ({failure}); try again.")
# The database is fine, but the read's budget went on waiting for a connection of this worker's
# pool (diespec/database/read.py): 503 too (try again shortly), under a code of its own, for it
# is no outage.
DATABASE_BUSY = ErrorKind(503, "database_busy", "Every database connection is in use; try again shortly.")
INVALID_DIE_SPECIFICATION = ErrorKind(
    500, "invalid_die_specification",
    "The stored specification of this die breaks the die contract: it cannot be rolled.",
)

# The dice roller. An unknown die is 404, not 503: the die service is up and said the
# die does not exist, the caller's mistake (docs/api.md, "Status codes, and why").
DIE_FAILED = ErrorKind(500, "die_failed", "The die fell off the table (a simulated failure).")
# A batch (/roll-async) with failed rolls; the body adds "failed": how many.
DICE_FAILED = ErrorKind(
    500, "die_failed", "{failed} of {count} dice fell off the table (a simulated failure)."
)
DIE_SERVICE_UNAVAILABLE = ErrorKind(
    503, "die_service_unavailable", "The die service cannot be reached; try again."
)
# The dice roller about the die service, and the frontend about the dice roller.
BAD_GATEWAY = ErrorKind(502, "bad_gateway", "The {upstream} gave an error or an answer that could not be used.")
# ... and when that error is one of ours, named: "The die service answered 503 database_unavailable."
UPSTREAM_ERROR = ErrorKind(502, "bad_gateway", "The {upstream} answered {status} {upstream_error}.")

# The frontend
DICE_ROLLER_UNAVAILABLE = ErrorKind(
    503, "dice_roller_unavailable", "The dice roller cannot be reached; try again."
)
DICE_ROLLER_TIMEOUT = ErrorKind(504, "dice_roller_timeout", "The dice roller did not answer in time.")
FAULTS_DISABLED = ErrorKind(
    400, "faults_disabled",
    "Faults cannot be sent from here: fault injection or tracing is off, so nothing was rolled.",
)


def one_value_error(values, is_valid, invalid):
    """The error for a query parameter's `values` that are not one valid value, else None:
    missing or empty is MISSING_PARAMETER, anything else not `is_valid` (or given twice) `invalid`."""
    if values in ([], [""]):
        return MISSING_PARAMETER
    if len(values) != 1 or not is_valid(values[0]):
        return invalid
    return None


def identifier_error(values):
    """The error for a query parameter's `values` that are not one valid identifier, else None."""
    return one_value_error(values, is_valid_identifier, INVALID_IDENTIFIER)


def times_error(values):
    """The error for the values of `times` that are not one number of dice, else None."""
    return one_value_error(values, lambda value: parse_times(value) is not None, INVALID_TIMES)
