"""The intrinsic functions of the States Language (``"key.$": "States.Format(...)"``).

``parse`` reads a call into a small tree once (validation uses it to refuse a bad call
at create time); ``evaluate`` runs it against a state's data and context object. A call
that fails at run time raises ``States.IntrinsicFailure`` (the spec's Appendix A name).

Where AWS's documentation or recorded behaviour decides a detail, it is followed:

* arguments are string literals in single quotes with the escapes ``\\'``, ``\\{``,
  ``\\}``, ``\\\\`` (any other backslash is an error), numbers, ``true``/``false``/``null``,
  paths (``$``/``$$``) and nested calls, at most 10 deep;
* ``States.Format`` prints a string as is, ``null``/booleans/numbers as JSON, and objects
  and arrays the way AWS's Java runtime prints them (``{a=1, b=[x, y]}``);
* numbers that must be integers (``MathAdd``, ``MathRandom``, ``ArrayRange``,
  ``ArrayPartition``) are rounded as Java's ``Math.round`` does (half up: 1.5 → 2,
  -1.5 → -1), and ``MathAdd`` takes 32-bit integers;
* ``ArrayRange`` makes at most 1000 items; ``Hash`` and the ``Base64`` functions take at
  most 10,000 characters; ``Hash`` knows MD5, SHA-1, SHA-256, SHA-384 and SHA-512;
* ``StringSplit`` splits on any of the delimiter's characters and drops empty strings;
  ``StringToJson`` of a blank string is ``null``; ``JsonMerge`` is shallow only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stackyard.states._errors import INTRINSIC_FAILURE, StatesError

MAX_NESTING = 10
MAX_RANGE_ITEMS = 1000
MAX_TEXT_CHARS = 10_000
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
                   "SHA-512": "sha512"}
INT32 = (-2**31, 2**31 - 1)


class IntrinsicSyntaxError(ValueError):
    """An intrinsic call that cannot be parsed (refused at validation)."""


@dataclass(frozen=True)
class Literal:
    value: Any
    holes: tuple[int, ...] = ()  # where an unescaped "{}" starts, for a string literal


@dataclass(frozen=True)
class PathArg:
    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]
    text: str


_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, what: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{what} at position {self.i} of {self.text!r}")

    def ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1

    def call(self, depth: int) -> Call:
        if depth > MAX_NESTING:
            raise self.fail(f"more than {MAX_NESTING} nested intrinsic functions")
        start = self.i
        m = re.compile(r"States\.[A-Za-z0-9]+").match(self.text, self.i)
        if not m:
            raise self.fail("expected an intrinsic function name (States.Name)")
        name = m.group()
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"unknown intrinsic function {name!r} in {self.text!r}; "
                                       f"known: {', '.join(sorted(FUNCTIONS))}")
        self.i = m.end()
        self.ws()
        if self.text[self.i:self.i + 1] != "(":
            raise self.fail(f"expected '(' after {name}")
        self.i += 1
        args: list[Any] = []
        self.ws()
        if self.text[self.i:self.i + 1] == ")":
            self.i += 1
        else:
            while True:
                args.append(self.arg(depth))
                self.ws()
                c = self.text[self.i:self.i + 1]
                self.i += 1
                if c == ")":
                    break
                if c != ",":
                    self.i -= 1
                    raise self.fail(f"expected ',' or ')' in the arguments of {name}")
                self.ws()
        return Call(name, tuple(args), self.text[start:self.i])

    def arg(self, depth: int) -> Any:
        c = self.text[self.i:self.i + 1]
        if c == "'":
            return self.string()
        if c == "$":
            return self.path()
        if self.text.startswith("States.", self.i):
            return self.call(depth + 1)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return Literal(value)
        m = _NUMBER.match(self.text, self.i)
        if m:
            self.i = m.end()
            return Literal(json.loads(m.group()))
        raise self.fail("expected a string in single quotes, a number, true, false, null, "
                        "a path or an intrinsic function")

    def string(self) -> Literal:
        self.i += 1
        out: list[str] = []
        holes: list[int] = []
        while True:
            if self.i >= len(self.text):
                raise self.fail("unterminated string literal")
            c = self.text[self.i]
            if c == "\\":
                nxt = self.text[self.i + 1:self.i + 2]
                if nxt not in ("'", "{", "}", "\\"):
                    raise self.fail("an open escape backslash (only \\', \\{, \\} and \\\\ "
                                    "are escapes)")
                out.append(nxt)
                self.i += 2
                continue
            if c == "'":
                self.i += 1
                return Literal("".join(out), tuple(holes))
            if c == "{" and self.text[self.i + 1:self.i + 2] == "}":
                holes.append(len("".join(out)))
            out.append(c)
            self.i += 1

    def path(self) -> PathArg:
        from stackyard.states._paths import PathSyntaxError, parse

        start, depth = self.i, 0
        while self.i < len(self.text):
            c = self.text[self.i]
            if c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            elif c == "'" and depth:
                self.i = self.text.index("'", self.i + 1) if "'" in self.text[self.i + 1:] \
                    else len(self.text)
            self.i += 1
        text = self.text[start:self.i].strip()
        try:
            parse(text)
        except PathSyntaxError as e:
            raise IntrinsicSyntaxError(f"bad path argument: {e}") from None
        return PathArg(text)


def parse(text: str) -> Call:
    """The call tree of ``text`` (``IntrinsicSyntaxError`` if it is not one valid call)."""
    p = _Parser(text)
    p.ws()
    call = p.call(1)
    p.ws()
    if p.i != len(text):
        raise p.fail("unexpected text after the call")
    _check_arity(call)
    return call


def _check_arity(call: Call) -> None:
    lo, hi = ARITY[call.name]
    n = len(call.args)
    if n < lo or (hi is not None and n > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi is not None else f"{lo} or more"
        raise IntrinsicSyntaxError(f"{call.name} takes {want} argument(s), got {n}: "
                                   f"{call.text!r}")
    for a in call.args:
        if isinstance(a, Call):
            _check_arity(a)


# --- evaluation -----------------------------------------------------------------------------
class _Fail(Exception):
    pass


def evaluate(expr: str, data: Any, ctx: dict) -> Any:
    """The value of the intrinsic call ``expr`` on ``data`` (``$``) and ``ctx`` (``$$``)."""
    try:
        call = parse(expr)
    except IntrinsicSyntaxError as e:
        raise StatesError(INTRINSIC_FAILURE, f"Invalid intrinsic function: {e}") from None
    return _run(call, data, ctx)


def _run(call: Call, data: Any, ctx: dict) -> Any:
    from stackyard.states._paths import PathNotFound, select

    values: list[Any] = []
    for a in call.args:
        if isinstance(a, Call):
            values.append(_run(a, data, ctx))
        elif isinstance(a, PathArg):
            try:
                values.append(select(a.path, ctx if a.path.startswith("$$") else data))
            except PathNotFound:
                raise StatesError(INTRINSIC_FAILURE,
                                  f"The JSONPath '{a.path}' used in the intrinsic function "
                                  f"'{call.text}' could not be found in the input") from None
        else:
            values.append(a)
    try:
        return FUNCTIONS[call.name](values)
    except _Fail as e:
        raise StatesError(INTRINSIC_FAILURE,
                          f"The intrinsic function '{call.text}' failed: {e}") from None


def _v(x: Any) -> Any:
    return x.value if isinstance(x, Literal) else x


def _array(x: Any, what: str) -> list:
    x = _v(x)
    if not isinstance(x, list):
        raise _Fail(f"{what} must be an array, not {_type(x)}")
    return x


def _string(x: Any, what: str) -> str:
    x = _v(x)
    if not isinstance(x, str):
        raise _Fail(f"{what} must be a string, not {_type(x)}")
    return x


def _type(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, (int, float)):
        return "a number"
    if isinstance(x, str):
        return "a string"
    return "an array" if isinstance(x, list) else "an object"


def java_round(x: Any, what: str) -> int:
    """Java's ``Math.round``: half up (floor(x + 0.5)), as AWS rounds integer arguments."""
    x = _v(x)
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise _Fail(f"{what} must be a number, not {_type(x)}")
    return int(x) if isinstance(x, int) else math.floor(x + 0.5)


def java_text(x: Any, top: bool = True) -> str:
    """A value as AWS's ``States.Format`` prints it (Java's ``toString`` of the JSON value)."""
    if isinstance(x, str):
        return x
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return java_double(x)
    if isinstance(x, list):
        return "[" + ", ".join(java_text(v, False) for v in x) + "]"
    return "{" + ", ".join(f"{k}={java_text(v, False)}" for k, v in x.items()) + "}"


def java_double(x: float) -> str:
    """Java's ``Double.toString``: plain between 10^-3 and 10^7, else ``1.0E20``."""
    if x == 0:
        return "0.0" if math.copysign(1, x) > 0 else "-0.0"
    if 1e-3 <= abs(x) < 1e7:
        text = repr(x)
        return text if ("." in text or "e" in text) else text + ".0"
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(digits) - 1 + int(exponent)}"


def _format(a: list) -> str:
    template = a[0]
    text = _string(template, "the first argument (the template)")
    holes = list(template.holes) if isinstance(template, Literal) else \
        [m.start() for m in re.finditer(r"\{\}", text)]
    args = [_v(x) for x in a[1:]]
    if len(holes) != len(args):
        raise _Fail(f"the template has {len(holes)} '{{}}' but {len(args)} argument(s) "
                    "were given")
    out, last = [], 0
    for pos, arg in zip(holes, args, strict=False):
        out.append(text[last:pos])
        out.append(java_text(arg))
        last = pos + 2
    out.append(text[last:])
    return "".join(out)


def _string_to_json(a: list) -> Any:
    text = _string(a[0], "the argument")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise _Fail(f"the string is not valid JSON ({e})") from None


def _partition(a: list) -> list:
    arr = _array(a[0], "the first argument")
    size = java_round(a[1], "the chunk size")
    if size <= 0:
        raise _Fail("the chunk size must be a positive integer")
    return [arr[i:i + size] for i in range(0, len(arr), size)]


def _contains(a: list) -> bool:
    from stackyard.states._paths import json_equal

    return any(json_equal(x, _v(a[1])) for x in _array(a[0], "the first argument"))


def _range(a: list) -> list:
    start, end, step = (java_round(x, w) for x, w in zip(a, ("the start", "the end",
                                                             "the step"), strict=False))
    if step == 0:
        raise _Fail("the step must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE_ITEMS:
        raise _Fail(f"the range would have {count} items; the limit is {MAX_RANGE_ITEMS}")
    return [start + i * step for i in range(count)]


def _get_item(a: list) -> Any:
    arr = _array(a[0], "the first argument")
    idx = _v(a[1])
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise _Fail("the index must be a non-negative integer")
    if idx >= len(arr):
        raise _Fail(f"the index {idx} is out of bounds for an array of length {len(arr)}")
    return arr[idx]


def _unique(a: list) -> list:
    from stackyard.states._paths import json_equal

    out: list = []
    for x in _array(a[0], "the argument"):
        if not any(json_equal(x, y) for y in out):
            out.append(x)
    return out


def _limited(a: list, what: str) -> str:
    text = _string(a[0], "the argument")
    if len(text) > MAX_TEXT_CHARS:
        raise _Fail(f"{what} takes at most {MAX_TEXT_CHARS} characters, got {len(text)}")
    return text


def _b64decode(a: list) -> str:
    text = _limited(a, "States.Base64Decode")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _Fail("the argument is not valid Base64 of UTF-8 text") from None


def _hash(a: list) -> str:
    text = _limited(a, "States.Hash")
    algorithm = _string(a[1], "the algorithm")
    if algorithm not in HASH_ALGORITHMS:
        raise _Fail(f"unknown algorithm {algorithm!r}; use one of {', '.join(HASH_ALGORITHMS)}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], text.encode()).hexdigest()


def _merge(a: list) -> dict:
    left, right, deep = _v(a[0]), _v(a[1]), _v(a[2])
    for x, what in ((left, "the first argument"), (right, "the second argument")):
        if not isinstance(x, dict):
            raise _Fail(f"{what} must be an object, not {_type(x)}")
    if deep is not False:
        raise _Fail("only shallow merging is supported: the third argument must be false")
    return {**left, **right}


def _random(a: list) -> int:
    start = java_round(a[0], "the start")
    end = java_round(a[1], "the end")
    if start >= end:
        raise _Fail("the start must be less than the end")
    rng = random.Random(java_round(a[2], "the seed")) if len(a) > 2 else random.Random()
    return rng.randrange(start, end)


def _add(a: list) -> int:
    x, y = java_round(a[0], "the first argument"), java_round(a[1], "the second argument")
    total = x + y
    for v in (x, y, total):
        if not INT32[0] <= v <= INT32[1]:
            raise _Fail(f"{v} is outside the 32-bit integer range {INT32[0]}..{INT32[1]}")
    return total


def _split(a: list) -> list:
    text = _string(a[0], "the first argument")
    delims = _string(a[1], "the delimiter")
    if not delims:
        return [text] if text else []
    return [p for p in re.split("[" + re.escape(delims) + "]", text) if p]


FUNCTIONS: dict[str, Callable[[list], Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": lambda a: json.dumps(_v(a[0]), separators=(",", ":"),
                                                ensure_ascii=False),
    "States.Array": lambda a: [_v(x) for x in a],
    "States.ArrayPartition": _partition,
    "States.ArrayContains": _contains,
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": lambda a: len(_array(a[0], "the argument")),
    "States.ArrayUnique": _unique,
    "States.Base64Encode": lambda a: base64.b64encode(
        _limited(a, "States.Base64Encode").encode()).decode(),
    "States.Base64Decode": _b64decode,
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": _random,
    "States.MathAdd": _add,
    "States.StringSplit": _split,
    "States.UUID": lambda a: str(uuid.uuid4()),
}

# (fewest, most) arguments; None: no upper bound
ARITY: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None), "States.StringToJson": (1, 1), "States.JsonToString": (1, 1),
    "States.Array": (0, None), "States.ArrayPartition": (2, 2), "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3), "States.ArrayGetItem": (2, 2), "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1), "States.Base64Encode": (1, 1), "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2), "States.JsonMerge": (3, 3), "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2), "States.StringSplit": (2, 2), "States.UUID": (0, 0),
}
