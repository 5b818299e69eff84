"""Choice rules: every comparison operator of the States Language.

Recorded AWS behaviour decides what the spec leaves open: a comparison whose variable has
the wrong type is false, not an error (``NumericEquals`` on ``"1"``, ``StringEquals`` on
``null``, ``TimestampEquals`` on a string that is not a timestamp); a variable path that
selects nothing is ``States.Runtime`` ("Invalid path '$.a' : The choice state's condition
path references an invalid value."), except under ``IsPresent``, which is then false.
Strings compare by UTF-16 code units, as Java does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stackyard.states._errors import NO_CHOICE_MATCHED, RUNTIME, StatesError
from stackyard.states._paths import PathNotFound, select
from stackyard.states._wait import parse_timestamp

_MISSING = object()


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _utf16(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _ts(v: Any) -> tuple | None:
    parsed = parse_timestamp(v)
    return None if parsed is None else (parsed[0], parsed[1])


def _compare(kind: str, a: Any, b: Any) -> int | None:
    """-1/0/1 for two values of ``kind``, None when either has the wrong type."""
    if kind == "String":
        if not (isinstance(a, str) and isinstance(b, str)):
            return None
        x, y = _utf16(a), _utf16(b)
    elif kind == "Numeric":
        if not (_num(a) and _num(b)):
            return None
        x, y = a, b
    elif kind == "Timestamp":
        x, y = _ts(a), _ts(b)
        if x is None or y is None:
            return None
    else:  # Boolean
        if not (isinstance(a, bool) and isinstance(b, bool)):
            return None
        return 0 if a == b else 1
    return (x > y) - (x < y)


_RELATIONS: dict[str, Callable[[int], bool]] = {
    "Equals": lambda c: c == 0,
    "LessThan": lambda c: c < 0,
    "GreaterThan": lambda c: c > 0,
    "LessThanEquals": lambda c: c <= 0,
    "GreaterThanEquals": lambda c: c >= 0,
}
COMPARISONS: dict[str, tuple[str, str, bool]] = {}
for _kind in ("String", "Numeric", "Timestamp", "Boolean"):
    for _rel in (_RELATIONS if _kind != "Boolean" else ("Equals",)):
        COMPARISONS[f"{_kind}{_rel}"] = (_kind, _rel, False)
        COMPARISONS[f"{_kind}{_rel}Path"] = (_kind, _rel, True)
TYPE_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
OPERATORS = frozenset(COMPARISONS) | set(TYPE_TESTS) | {"StringMatches"}


def _invalid(path: str) -> StatesError:
    return StatesError(RUNTIME, f"Invalid path '{path}' : The choice state's condition path "
                                "references an invalid value.")


def _lookup(path: str, data: Any, ctx: dict) -> Any:
    try:
        return select(path, ctx if path.startswith("$$") else data)
    except PathNotFound:
        return _MISSING


def string_matches(value: str, pattern: str) -> bool:
    """``StringMatches``: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are a
    literal star and backslash."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), value, re.DOTALL) is not None


def evaluate_rule(rule: dict, data: Any, ctx: dict | None = None) -> bool:
    """Whether one Choice rule (or a nested And/Or/Not rule) holds for ``data``."""
    ctx = ctx or {}
    if "And" in rule:
        return all(evaluate_rule(r, data, ctx) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(r, data, ctx) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], data, ctx)
    variable = rule["Variable"]
    op = next(k for k in rule if k in OPERATORS)
    expected = rule[op]
    value = _lookup(variable, data, ctx)
    if op == "IsPresent":
        return (value is not _MISSING) == expected
    if value is _MISSING:
        raise _invalid(variable)
    if op in TYPE_TESTS:
        holds = {"IsNull": value is None, "IsNumeric": _num(value),
                 "IsString": isinstance(value, str), "IsBoolean": isinstance(value, bool),
                 "IsTimestamp": parse_timestamp(value) is not None}[op]
        return holds == expected
    if op == "StringMatches":
        return isinstance(value, str) and string_matches(value, expected)
    kind, relation, by_path = COMPARISONS[op]
    if by_path:
        expected = _lookup(expected, data, ctx)
        if expected is _MISSING:
            raise _invalid(rule[op])
    cmp = _compare(kind, value, expected)
    return cmp is not None and _RELATIONS[relation](cmp)


def next_state(state: dict, data: Any, ctx: dict | None = None) -> str:
    """The state a Choice state goes to for ``data`` (its input after InputPath): the first
    matching rule's ``Next``, else ``Default``, else ``States.NoChoiceMatched``."""
    for rule in state.get("Choices", []):
        if evaluate_rule(rule, data, ctx):
            return str(rule["Next"])
    if "Default" in state:
        return str(state["Default"])
    raise StatesError(NO_CHOICE_MATCHED, "No Choice Rule matched the input and the Choice "
                                         "state has no Default.")
