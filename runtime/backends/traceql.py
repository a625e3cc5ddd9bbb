"""The part of TraceQL that make run's Tempo answers (`q` of /api/search, and its search page), so
that the queries the labs and the docs give for Grafana find the same traces without Docker:

    {resource.service.name="frontend" && kind=server && duration > 1s}
    {span.lab.name="slow-query"} && {kind=client && span.db.system.name != nil && duration > 200ms}

Spansets `{ ... }` joined by `&&`, each a list of conditions joined by `&&`; a condition compares
an intrinsic (`name`, `kind`, `status`, `duration`) or an attribute (`span.x`, `resource.x`,
`.x` for either) with `=`, `!=`, `>`, `>=`, `<` or `<=` to a string, a number, a duration, `true`,
`false`, `nil`, or a kind or status word. A trace matches when each spanset matches one of its
spans, as in Tempo. Anything else is refused (ValueError) with what is understood: Grafana's
Explore takes the whole language."""

import operator
import re
from dataclasses import dataclass

UNDERSTOOD = ("make run understands spansets {...} joined by &&, each of conditions joined by &&: "
              "name, kind, status, duration, span.x, resource.x or .x compared (= != > >= < <=) with "
              "a \"string\", a number, a duration, true, false, nil, or a kind or status word")
TOKEN = re.compile(r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<duration>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\b)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<symbol>&&|!=|>=|<=|=|>|<|\{|\})
  | (?P<word>\.?[A-Za-z_][\w.\-]*)
)""", re.VERBOSE)
COMPARISONS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt,
               "<=": operator.le}
WORDS = {"true": True, "false": False, "nil": None}
INTRINSICS = ("name", "kind", "status", "duration")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
NANOSECONDS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


@dataclass(frozen=True)
class Condition:
    field: str  # an intrinsic, or span.x / resource.x / .x
    comparison: str
    value: object  # str, int, float, bool, None (nil); a duration in nanoseconds

    def holds(self, span):
        actual = _field_of(span, self.field)
        if self.value is None:  # `!= nil`: the attribute is there; `= nil`: it is not
            return (actual is None) == (self.comparison == "=")
        if actual is None or isinstance(actual, bool) != isinstance(self.value, bool):
            return False
        if isinstance(actual, str) != isinstance(self.value, str):
            return False
        try:
            return COMPARISONS[self.comparison](actual, self.value)
        except TypeError:
            return False


def _field_of(span, field):
    if field == "name":
        return span.name
    if field == "kind":
        return span.kind.lower()
    if field == "status":
        return span.status.lower()
    if field == "duration":
        return span.end_ns - span.start_ns
    scope, _, key = field.partition(".")
    if scope == "span":
        return span.attributes.get(key)
    if scope == "resource":
        return span.resource.get(key)
    return span.attributes.get(key, span.resource.get(key))  # `.x`: the span's, else its resource's


def parse_duration(text):
    """Go's durations, as Tempo takes them ("1.5s", "100ms", "1m30s"), in nanoseconds."""
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(text)
    return sum(float(number) * NANOSECONDS[unit] for number, unit in parts)


def parse(query):
    """[[Condition, ...] per spanset] of `query`; ValueError for anything outside the subset."""
    tokens = _tokens(query)
    spansets = []
    while True:
        _expect(tokens, "{")
        conditions = []
        while tokens and tokens[0] != ("symbol", "}"):
            if conditions:
                _expect(tokens, "&&")
            conditions.append(_condition(tokens))
        _expect(tokens, "}")
        spansets.append(conditions)
        if not tokens:
            return spansets
        _expect(tokens, "&&")


def matches(spansets, spans):
    """Whether every spanset matches one span of `spans` (a trace)."""
    return all(any(all(condition.holds(span) for condition in spanset) for span in spans) for spanset in spansets)


def _tokens(query):
    tokens, position = [], 0
    query = query.strip()
    while position < len(query):
        found = TOKEN.match(query, position)
        if not found or found.end() == position:
            raise ValueError(f"cannot read {query[position:position + 20]!r}: {UNDERSTOOD}")
        tokens.append((found.lastgroup, found[found.lastgroup]))
        position = found.end()
        while position < len(query) and query[position].isspace():
            position += 1
    return tokens


def _expect(tokens, symbol):
    if not tokens or tokens[0] != ("symbol", symbol):
        seen = tokens[0][1] if tokens else "the end"
        raise ValueError(f"expected {symbol!r}, found {seen!r}: {UNDERSTOOD}")
    tokens.pop(0)


def _condition(tokens):
    if len(tokens) < 3 or tokens[0][0] != "word" or tokens[1][0] != "symbol" or tokens[1][1] not in COMPARISONS:
        raise ValueError(f"expected a condition such as duration > 1s: {UNDERSTOOD}")
    (_, field), (_, comparison), (kind, text) = tokens.pop(0), tokens.pop(0), tokens.pop(0)
    if field not in INTRINSICS and not field.startswith(("span.", "resource.", ".")):
        raise ValueError(f"{field!r} is no intrinsic or attribute: {UNDERSTOOD}")
    if kind == "string":
        value = re.sub(r"\\(.)", r"\1", text[1:-1])
    elif kind == "duration":
        value = parse_duration(text)
    elif kind == "number":
        value = float(text) if "." in text else int(text)
    elif kind == "word" and field in ("kind", "status"):
        value = text.lower()
    elif kind == "word" and text in WORDS:
        value = WORDS[text]
    else:
        raise ValueError(f"{text!r} is no value: {UNDERSTOOD}")
    if value is None and comparison not in ("=", "!="):
        raise ValueError(f"nil compares with = or != only: {UNDERSTOOD}")
    return Condition(field, comparison, value)
