"""The JSONPath subset SageMaker batch transform takes for ``InputFilter``/``OutputFilter``.

``$`` (the whole record), ``$.field`` (fields may chain: ``$.a.b``), ``$["a","b"]`` (or single
quotes), ``$[i]``, ``$[a:b]``, ``$[a:]``, ``$[:b]`` and lists of those (``$[0,5:]``). A slice's
end is **inclusive**, as SageMaker documents it: ``$[1:3]`` is columns 1, 2 and 3, not
Python's 1 and 2. A CSV row is taken as a JSON array of its fields. Only the last step may
select more than one item. Anything else (``*``, ``..``, filters, negative indexes, steps)
is refused when the job is defined, not when the first record meets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stackyard.errors import UsageError

MAX_LENGTH = 63  # SageMaker's limit for InputFilter/OutputFilter
_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_NAME = re.compile(r"""\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*""")
_INDEX = re.compile(r"\s*([0-9]*)\s*(?:(:)\s*([0-9]*)\s*)?")
SUPPORTED = ("$, $.field, $['a','b'], $[i], $[a:b] (end inclusive), $[a:], $[:b] and lists "
             "such as $[0,5:]")


class RecordError(ValueError):
    """A filter or join cannot apply to one record (an index beyond its width, a missing
    field): that record's file fails, naming the line."""


@dataclass(frozen=True)
class _Step:
    names: tuple[str, ...] = ()  # fields
    items: tuple[int | tuple[int | None, int | None], ...] = ()  # indexes and inclusive slices
    single: bool = True  # one field or one index: the value itself, not a container


@dataclass(frozen=True)
class JsonPath:
    expr: str
    steps: tuple[_Step, ...]

    @property
    def is_root(self) -> bool:
        return not self.steps

    def apply(self, value: Any) -> Any:
        for step in self.steps:
            value = _apply(step, value, self.expr)
        return value


def parse(expr: Any, what: str = "filter") -> JsonPath:
    """``expr`` as a ``JsonPath``; ``UsageError`` naming the expression if it is outside the
    subset."""
    if expr is None:
        return JsonPath("$", ())
    if not isinstance(expr, str) or not expr.startswith("$"):
        raise UsageError(f"{what} {expr!r}: a JSONPath starts with '$'; use {SUPPORTED}")
    if len(expr) > MAX_LENGTH:
        raise UsageError(f"{what} {expr[:20]!r}… is {len(expr)} characters; SageMaker's limit "
                         f"is {MAX_LENGTH}")
    steps: list[_Step] = []
    pos = 1
    while pos < len(expr):
        if steps and not steps[-1].single:
            raise UsageError(f"{what} {expr!r}: only the last step may select several items; "
                             f"use {SUPPORTED}")
        m = _FIELD.match(expr, pos) or _BRACKET.match(expr, pos)
        if m is None:
            raise UsageError(f"{what} {expr!r}: unsupported at {expr[pos:]!r}; use {SUPPORTED}")
        steps.append(_step(m.group(1), m.re is _FIELD, expr, what))
        pos = m.end()
    return JsonPath(expr, tuple(steps))


def _step(body: str, is_field: bool, expr: str, what: str) -> _Step:
    if is_field:
        return _Step(names=(body,))
    parts = body.split(",")
    names = [_NAME.fullmatch(p) for p in parts]
    if all(names):
        return _Step(names=tuple(m.group(1) if m.group(1) is not None else m.group(2)
                                 for m in names if m), single=len(parts) == 1)
    items: list[int | tuple[int | None, int | None]] = []
    for p in parts:
        m = _INDEX.fullmatch(p)
        if m is None or not (m.group(1) or m.group(2)):
            raise UsageError(f"{what} {expr!r}: unsupported selector [{body}]; use {SUPPORTED}")
        start = int(m.group(1)) if m.group(1) else None
        if not m.group(2):
            items.append(start)  # type: ignore[arg-type] - a plain index is never None here
            continue
        end = int(m.group(3)) if m.group(3) else None
        if start is not None and end is not None and end < start:
            raise UsageError(f"{what} {expr!r}: slice [{p.strip()}] ends before it starts")
        items.append((start, end))
    return _Step(items=tuple(items), single=len(items) == 1 and isinstance(items[0], int))


def _apply(step: _Step, value: Any, expr: str) -> Any:
    if step.names:
        if not isinstance(value, dict):
            raise RecordError(f"{expr}: the record is not a JSON object")
        missing = [n for n in step.names if n not in value]
        if missing:
            raise RecordError(f"{expr}: the record has no field {missing[0]!r}")
        return value[step.names[0]] if step.single else {n: value[n] for n in step.names}
    if not isinstance(value, list):
        raise RecordError(f"{expr}: the record is not an array (a CSV row or a JSON list)")
    out: list[Any] = []
    n = len(value)
    for item in step.items:
        if isinstance(item, int):
            if item >= n:
                raise RecordError(f"{expr}: index {item} is beyond the record's {n} items")
            out.append(value[item])
            continue
        start, end = item
        start = start or 0
        if start >= n or (end is not None and end >= n):
            raise RecordError(f"{expr}: slice {start}:{'' if end is None else end} is beyond "
                              f"the record's {n} items")
        out.extend(value[start:None if end is None else end + 1])
    return out[0] if step.single else out
