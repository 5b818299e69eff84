"""EventBridge event patterns: checking one and matching events against it. Pure: no I/O.

A pattern is a JSON object whose keys name fields of the event. A nested object matches a
nested object; a list holds matchers, and the field matches if its value (or, for a list
value, any element) matches any of them. Matchers: a plain value (exact; numbers compare as
numbers), ``{"prefix": s}``, ``{"suffix": s}``, ``{"equals-ignore-case": s}``,
``{"wildcard": "*.csv"}``, ``{"numeric": [">", 0, "<=", 5]}``, ``{"exists": bool}`` and
``{"anything-but": value | [values] | {"prefix": s} | {"suffix": s}}``. A pattern that is
not valid is refused by ``check_pattern`` with the path of the bad part.
"""

from __future__ import annotations

import json
import math
from typing import Any

from stackyard.errors import UsageError

_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_STRING_OPS = ("prefix", "suffix", "equals-ignore-case", "wildcard")
_MISSING = object()


def parse_pattern(text: str, what: str = "--filter") -> dict[str, Any]:
    """``text`` (JSON) as a checked pattern."""
    try:
        return check_pattern(json.loads(text), what)
    except (TypeError, ValueError, RecursionError) as e:   # RecursionError: nested too deeply
        raise UsageError(f"{what}: not valid JSON ({e}); write e.g. "
                         '\'{"detail": {"group": ["churn"]}}\'') from None


def check_pattern(pattern: Any, what: str = "pattern") -> dict[str, Any]:
    """``pattern`` if it is a valid event pattern, else ``UsageError`` naming where."""
    if not isinstance(pattern, dict):
        raise UsageError(f"{what}: an event pattern is a JSON object, e.g. "
                         '{"detail": {"status": ["Failed"]}}')
    _check_object(pattern, what)
    return pattern


def _check_object(obj: dict[str, Any], path: str) -> None:
    if not obj:
        raise UsageError(f"{path}: an empty object matches nothing; leave the field out")
    for key, value in obj.items():
        where = f"{path}.{key}"
        if isinstance(value, dict):
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise UsageError(f"{where}: an empty list matches nothing")
            for m in value:
                _check_matcher(m, where)
        else:
            raise UsageError(f"{where}: write a list of values or matchers, e.g. "
                             f"[{json.dumps(value)}]")


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | bool) or (
        isinstance(v, int | float) and math.isfinite(v))


def _check_matcher(m: Any, where: str) -> None:
    if _scalar(m):
        return
    if not isinstance(m, dict) or len(m) != 1:
        raise UsageError(f"{where}: {json.dumps(m)[:60]} is neither a value nor a matcher "
                         "with one key (prefix, suffix, anything-but, numeric, exists, ...)")
    (op, arg), = m.items()
    if op in _STRING_OPS:
        if not isinstance(arg, str):
            raise UsageError(f"{where}: {op} takes a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise UsageError(f"{where}: exists takes true or false")
    elif op == "numeric":
        _check_numeric(arg, where)
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix") or \
                    not isinstance(next(iter(arg.values())), str):
                raise UsageError(f"{where}: anything-but takes a value, a list of values, "
                                 "or {\"prefix\": s} / {\"suffix\": s}")
        elif isinstance(arg, list):
            if not arg or not all(_scalar(a) for a in arg):
                raise UsageError(f"{where}: anything-but takes a non-empty list of values")
        elif not _scalar(arg):
            raise UsageError(f"{where}: anything-but takes a value or a list of values")
    else:
        raise UsageError(f"{where}: unknown matcher {op!r}; use prefix, suffix, "
                         "equals-ignore-case, wildcard, anything-but, numeric or exists")


def _check_numeric(arg: Any, where: str) -> None:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise UsageError(f"{where}: numeric takes [op, n] or [op, n, op, n], e.g. "
                         '[">", 0, "<=", 5]')
    for op, n in zip(arg[::2], arg[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            raise UsageError(f"{where}: numeric operator {op!r}; use =, <, <=, > or >=")
        if isinstance(n, bool) or not isinstance(n, int | float) or not math.isfinite(n):
            raise UsageError(f"{where}: numeric bound {n!r} is not a finite number")


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether ``event`` matches the (checked) ``pattern``."""
    if not isinstance(event, dict):
        return False
    for key, want in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(want, dict):
            if not matches(want, value):
                return False
        elif not _field(want, value):
            return False
    return True


def _field(matchers: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for m in matchers:
        if isinstance(m, dict) and "exists" in m:
            if m["exists"] == (value is not _MISSING):
                return True
            continue
        if isinstance(m, dict) and "anything-but" in m:
            if value is not _MISSING and all(_anything_but(m["anything-but"], v)
                                             for v in values):
                return True
            continue
        if value is not _MISSING and any(_one(m, v) for v in values):
            return True
    return False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _one(m: Any, v: Any) -> bool:
    """A plain or string/numeric matcher against one value (anything-but is separate)."""
    if not isinstance(m, dict):
        return _same(m, v)
    (op, arg), = m.items()
    if op == "numeric":
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        return all(_compare(v, o, n) for o, n in zip(arg[::2], arg[1::2], strict=True))
    if not isinstance(v, str):
        return False
    if op == "prefix":
        return v.startswith(arg)
    if op == "suffix":
        return v.endswith(arg)
    if op == "equals-ignore-case":
        return v.casefold() == arg.casefold()
    if op == "wildcard":
        return _wildcard(arg, v)
    return False


def _wildcard(pattern: str, v: str) -> bool:
    """``*`` matches any run of characters. Greedy, leftmost segment by segment: linear in
    ``v`` (a regex of ``.*`` per star backtracks exponentially on ``*a*a*a…*b``, and an
    event's text is not the rule author's to choose)."""
    first, *middle = pattern.split("*")
    if not middle:
        return v == pattern
    last = middle.pop()
    if len(first) + len(last) > len(v) or not (v.startswith(first) and v.endswith(last)):
        return False
    pos, end = len(first), len(v) - len(last)
    for part in middle:
        found = v.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def _anything_but(arg: Any, v: Any) -> bool:
    if isinstance(arg, dict):
        (op, s), = arg.items()
        return not (isinstance(v, str) and (v.startswith(s) if op == "prefix"
                                            else v.endswith(s)))
    return not any(_same(a, v) for a in (arg if isinstance(arg, list) else [arg]))


def _compare(v: float, op: str, n: float) -> bool:
    return {"=": v == n, "<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n}[op]
