"""The JSONPath dialect of the States Language, and the input/output processing built on it.

AWS evaluates paths with Jayway JsonPath, so this module follows Jayway's rules rather
than a generic JSONPath library's (jsonpath-ng differs on definite paths, error texts and
filter syntax):

* A *definite* path (only names and single indices) selects one value; if it selects
  nothing, that is an error with Jayway's text (``No results for path: $['a']`` when the
  last step is missing, ``Missing property in path $['a']`` when an earlier one is).
* An *indefinite* path (``*``, ``..``, ``[a,b]``, ``[1:3]``, ``[?(...)]``) selects a list
  of every match, possibly empty, never an error.
* A *reference path* (ResultPath, ItemsPath, a Choice's Variable, SecondsPath, ...) must be
  definite; ResultPath may name object fields only.

``effective_input`` and ``state_output`` are the spec's InputPath → Parameters → (the
state's work) → ResultSelector → ResultPath → OutputPath chain; they raise ``StatesError``
with AWS's error names and causes.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from stackyard.states._errors import (
    DATA_LIMIT_EXCEEDED,
    RESULT_PATH_MATCH_FAILURE,
    RUNTIME,
    StatesError,
)

MAX_PAYLOAD_BYTES = 256 * 1024  # AWS's quota for a state's input, output and result


class PathSyntaxError(ValueError):
    """A path that is not valid JSONPath (or not allowed where it is used)."""


# --- parsing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Step:
    kind: str  # "name" | "index" | "wild" | "slice" | "filter"
    args: tuple = ()
    deep: bool = False  # reached through ".." (deep scan)

    @property
    def definite(self) -> bool:
        return not self.deep and self.kind in ("name", "index") and len(self.args) == 1


@dataclass(frozen=True)
class Path:
    """A parsed path: its root (``$`` for the data, ``$$`` for the context object)."""

    text: str
    context: bool
    steps: tuple[_Step, ...]

    @property
    def definite(self) -> bool:
        return all(s.definite for s in self.steps)


_CACHE: dict[str, Path] = {}
_NAME_CHARS = re.compile(r"[^.\[\]()\s]+")


def parse(text: str) -> Path:
    """The parsed form of ``text``, or ``PathSyntaxError`` saying what is wrong."""
    hit = _CACHE.get(text)
    if hit is not None:
        return hit
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"a path must start with '$': {text!r}")
    context = text.startswith("$$")
    i = 2 if context else 1
    steps: list[_Step] = []
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith("..", i):
            i += 2
            if i < n and text[i] == "[":
                step, i = _bracket(text, i)
            elif i < n and text[i] == "*":
                step, i = _Step("wild"), i + 1
            else:
                m = _NAME_CHARS.match(text, i)
                if not m:
                    raise PathSyntaxError(f"expected a name after '..' at position {i} "
                                          f"of {text!r}")
                step, i = _Step("name", (m.group(),)), m.end()
            steps.append(_Step(step.kind, step.args, deep=True))
        elif c == ".":
            i += 1
            if i < n and text[i] == "*":
                steps.append(_Step("wild"))
                i += 1
                continue
            m = _NAME_CHARS.match(text, i)
            if not m:
                raise PathSyntaxError(f"expected a name after '.' at position {i} of {text!r}")
            if m.end() < n and text[m.end()] == "(":
                raise PathSyntaxError(f"JSONPath functions such as {m.group()}() are not "
                                      f"supported in {text!r}; use an intrinsic function "
                                      "(States.ArrayLength, ...) instead")
            steps.append(_Step("name", (m.group(),)))
            i = m.end()
        elif c == "[":
            step, i = _bracket(text, i)
            steps.append(step)
        else:
            raise PathSyntaxError(f"unexpected {c!r} at position {i} of {text!r}")
    path = Path(text, context, tuple(steps))
    if len(_CACHE) < 4096:
        _CACHE[text] = path
    return path


def _closing(text: str, i: int) -> int:
    """Index of the ']' closing the '[' at ``i``, skipping quoted strings and nesting."""
    depth, quote, j = 0, "", i
    while j < len(text):
        c = text[j]
        if quote:
            if c == "\\":
                j += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise PathSyntaxError(f"unclosed '[' at position {i} of {text!r}")


def _bracket(text: str, i: int) -> tuple[_Step, int]:
    end = _closing(text, i)
    inner = text[i + 1:end].strip()
    after = end + 1
    if inner == "*":
        return _Step("wild"), after
    if inner.startswith("?"):
        body = inner[1:].strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise PathSyntaxError(f"a filter must be written [?(...)] in {text!r}")
        return _Step("filter", (_FilterParser(body[1:-1], text).parse(),)), after
    if inner[:1] in "'\"":
        names = []
        for raw in _split_top(inner, ","):
            part = raw.strip()
            if len(part) < 2 or part[0] not in "'\"" or part[-1] != part[0]:
                raise PathSyntaxError(f"bad quoted name {part!r} in {text!r}")
            names.append(_unquote(part[1:-1]))
        return _Step("name", tuple(names)), after
    if ":" in inner:
        parts = inner.split(":")
        if len(parts) > 3:
            raise PathSyntaxError(f"bad slice [{inner}] in {text!r}")
        try:
            nums = tuple(int(p) if p.strip() else None for p in parts)
        except ValueError:
            raise PathSyntaxError(f"bad slice [{inner}] in {text!r}") from None
        if len(nums) == 3 and nums[2] is not None and nums[2] <= 0:
            raise PathSyntaxError(f"a slice step must be positive in {text!r}")
        return _Step("slice", nums), after
    try:
        idx = tuple(int(p) for p in inner.split(","))
    except ValueError:
        raise PathSyntaxError(f"bad index [{inner}] in {text!r}") from None
    return _Step("index", idx), after


def _split_top(s: str, sep: str) -> list[str]:
    out, quote, start = [], "", 0
    for j, c in enumerate(s):
        if quote:
            if c == quote and s[j - 1] != "\\":
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == sep:
            out.append(s[start:j])
            start = j + 1
    out.append(s[start:])
    return out


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


# --- filters ([?(...)], Jayway's operators) -------------------------------------------------
_FILTER_TOKEN = re.compile(r"""\s*(?:
    (?P<op>==|!=|<=|>=|<|>|=~|&&|\|\||!|\(|\))
  | (?P<word>\b(?:in|nin|subsetof|anyof|noneof|size|empty)\b)
  | (?P<path>[@$]{1,2}(?:\.\.?[^\s.\[\]()=!<>&|,]+|\.\*|\[[^\]]*\])*)
  | (?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<const>true|false|null)
  | (?P<regex>/(?:\\.|[^/\\])*/[a-z]*)
  | (?P<json>\[[^\]]*\])
)""", re.VERBOSE)


class _FilterParser:
    """Recursive descent over Jayway's filter grammar: ``||``, ``&&``, ``!``, parentheses,
    comparisons, ``=~ /re/flags``, ``in``/``nin``/``subsetof``/``anyof``/``noneof``/``size``/
    ``empty``, and a bare path meaning "exists"."""

    def __init__(self, src: str, whole: str) -> None:
        self.whole = whole
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(src):
            if src[pos:].strip() == "":
                break
            m = _FILTER_TOKEN.match(src, pos)
            if not m or m.end() == pos:
                raise PathSyntaxError(f"cannot read the filter at {src[pos:]!r} in {whole!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def parse(self) -> tuple:
        expr = self._or()
        if self.i != len(self.tokens):
            raise PathSyntaxError(f"unexpected {self.tokens[self.i][1]!r} in filter of "
                                  f"{self.whole!r}")
        return expr

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise PathSyntaxError(f"filter ends too early in {self.whole!r}")
        self.i += 1
        return tok

    def _or(self) -> tuple:
        left = self._and()
        while self._peek() == ("op", "||"):
            self.i += 1
            left = ("or", left, self._and())
        return left

    def _and(self) -> tuple:
        left = self._unary()
        while self._peek() == ("op", "&&"):
            self.i += 1
            left = ("and", left, self._unary())
        return left

    def _unary(self) -> tuple:
        tok = self._peek()
        if tok == ("op", "!"):
            self.i += 1
            return ("not", self._unary())
        if tok == ("op", "("):
            self.i += 1
            inner = self._or()
            if self._take() != ("op", ")"):
                raise PathSyntaxError(f"missing ')' in filter of {self.whole!r}")
            return inner
        left = self._operand()
        nxt = self._peek()
        if nxt and (nxt[0] == "word" or (nxt[0] == "op" and nxt[1] in
                                          ("==", "!=", "<", "<=", ">", ">=", "=~"))):
            self.i += 1
            return ("cmp", nxt[1], left, self._operand())
        if left[0] != "path":
            raise PathSyntaxError(f"a filter needs a comparison or a path in {self.whole!r}")
        return ("exists", left)

    def _operand(self) -> tuple:
        kind, text = self._take()
        if kind == "path":
            rel = text.startswith("@")
            return ("path", rel, parse("$" + text[1:]) if rel else parse(text))
        if kind == "str":
            return ("lit", _unquote(text[1:-1]))
        if kind == "num":
            return ("lit", json.loads(text))
        if kind == "const":
            return ("lit", {"true": True, "false": False, "null": None}[text])
        if kind == "regex":
            body, flags = text[1:text.rindex("/")], text[text.rindex("/") + 1:]
            return ("re", re.compile(body, re.IGNORECASE if "i" in flags else 0))
        if kind == "json":
            try:
                return ("lit", json.loads(text.replace("'", '"')))
            except ValueError:
                raise PathSyntaxError(f"bad array {text!r} in {self.whole!r}") from None
        raise PathSyntaxError(f"unexpected {text!r} in filter of {self.whole!r}")


_MISSING = object()


def _filter_value(operand: tuple, item: Any, root: Any) -> Any:
    if operand[0] != "path":
        return operand[1]
    base = item if operand[1] else root
    path: Path = operand[2]
    found = _walk(path, base)
    if path.definite:
        return found[0] if found else _MISSING
    return found


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _filter_true(expr: tuple, item: Any, root: Any) -> bool:
    op = expr[0]
    if op == "or":
        return _filter_true(expr[1], item, root) or _filter_true(expr[2], item, root)
    if op == "and":
        return _filter_true(expr[1], item, root) and _filter_true(expr[2], item, root)
    if op == "not":
        return not _filter_true(expr[1], item, root)
    if op == "exists":
        return _filter_value(expr[1], item, root) is not _MISSING
    cmp, left_op, right_op = expr[1], expr[2], expr[3]
    left = _filter_value(left_op, item, root)
    if left is _MISSING:
        return False
    if right_op[0] == "re":
        return cmp == "=~" and isinstance(left, str) and bool(right_op[1].search(left))
    right = _filter_value(right_op, item, root)
    if right is _MISSING:
        return False
    if cmp in ("==", "!="):
        return json_equal(left, right) == (cmp == "==")
    if cmp in ("<", "<=", ">", ">="):
        if not ((_num(left) and _num(right)) or (isinstance(left, str) and isinstance(right, str))):
            return False
        return {"<": left < right, "<=": left <= right, ">": left > right,
                ">=": left >= right}[cmp]
    if cmp in ("in", "nin"):
        inside = isinstance(right, list) and any(json_equal(left, r) for r in right)
        return inside == (cmp == "in")
    if cmp == "size":
        return isinstance(left, (list, str)) and _num(right) and len(left) == right
    if cmp == "empty":
        return isinstance(left, (list, str)) and (len(left) == 0) == bool(right)
    if not (isinstance(left, list) and isinstance(right, list)):
        return False
    if cmp == "subsetof":
        return all(any(json_equal(x, r) for r in right) for x in left)
    if cmp == "anyof":
        return any(any(json_equal(x, r) for r in right) for x in left)
    return not any(any(json_equal(x, r) for r in right) for x in left)  # noneof


# --- evaluation -----------------------------------------------------------------------------
def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans never equal numbers (Python's ``True == 1`` does not leak)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _num(a) and _num(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> list[Any]:
    out = [node]
    for child in _children(node):
        out.extend(_descendants(child))
    return out


def _apply(step: _Step, node: Any, root: Any) -> list[Any]:
    """The values one step selects from one node (no errors: missing is just empty)."""
    if step.kind == "name":
        if isinstance(node, dict):
            return [node[k] for k in step.args if k in node]
        return []
    if step.kind == "index":
        if not isinstance(node, list):
            return []
        out = []
        for k in step.args:
            j = k + len(node) if k < 0 else k
            if 0 <= j < len(node):
                out.append(node[j])
        return out
    if step.kind == "wild":
        return _children(node)
    if step.kind == "slice":
        if not isinstance(node, list):
            return []
        return node[slice(*step.args)]
    # filter: over an array's items, or an object's single value (Jayway)
    items = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
    return [x for x in items if _filter_true(step.args[0], x, root)]


def _walk(path: Path, data: Any) -> list[Any]:
    nodes = [data]
    for step in path.steps:
        nxt: list[Any] = []
        for node in nodes:
            for base in (_descendants(node) if step.deep else [node]):
                nxt.extend(_apply(step, base, data))
        nodes = nxt
    return nodes


def normalized(steps: tuple[_Step, ...] | list[_Step], context: bool = False) -> str:
    """Jayway's normalized form of (part of) a path, as its error messages print it:
    ``$['a'][0]``."""
    out = "$$" if context else "$"
    for s in steps:
        if s.kind == "name":
            out += "[" + ",".join(f"'{a}'" for a in s.args) + "]"
        elif s.kind == "index":
            out += "[" + ",".join(str(a) for a in s.args) + "]"
        else:
            out += "[*]"
    return out


class PathNotFound(LookupError):
    """A definite path selected nothing; the message is Jayway's."""


def select(path: str, data: Any) -> Any:
    """The value ``path`` selects in ``data``: one value for a definite path (else
    ``PathNotFound`` with Jayway's text), a list of all matches for an indefinite one."""
    parsed = parse(path)
    if not parsed.definite:
        return _walk(parsed, data)
    node = data
    for k, step in enumerate(parsed.steps):
        got = _apply(step, node, data)
        if not got:
            if k == len(parsed.steps) - 1:
                raise PathNotFound(f"No results for path: {normalized(parsed.steps)}")
            raise PathNotFound(f"Missing property in path {normalized(parsed.steps[:k + 1])}")
        node = got[0]
    return node


def compact(value: Any) -> str:
    """JSON as AWS prints it in causes and as ``States.JsonToString`` returns it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _resolve(path: str, data: Any, ctx: dict) -> Any:
    return select(path, ctx if path.startswith("$$") else data)


def _invalid_path(path: str, err: PathNotFound) -> StatesError:
    return StatesError(RUNTIME, f"Invalid path '{path}' : {err}")


# --- payload templates (Parameters, ItemSelector, ResultSelector) ---------------------------
def payload(template: Any, data: Any, ctx: dict) -> Any:
    """A payload template filled in: a key ending ``.$`` takes the value of its path (``$``
    on ``data``, ``$$`` on the context object) or of its intrinsic function, under the key
    without ``.$``; objects nested in objects and arrays are filled in too."""
    from stackyard.states._intrinsics import evaluate

    if isinstance(template, list):
        return [payload(v, data, ctx) for v in template]
    if not isinstance(template, dict):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if not key.endswith(".$"):
            out[key] = payload(value, data, ctx)
            continue
        if isinstance(value, str) and value.startswith("States."):
            out[key[:-2]] = evaluate(value, data, ctx)
            continue
        try:
            out[key[:-2]] = _resolve(value, data, ctx)
        except PathNotFound:
            raise StatesError(RUNTIME, f"The JSONPath '{value}' specified for the field "
                                       f"'{key}' could not be found in the input "
                                       f"'{compact(data)}'") from None
    return out


# --- the input/output chain -----------------------------------------------------------------
def input_path(state: dict, state_input: Any) -> Any:
    """InputPath: ``$`` by default, ``null`` for ``{}``."""
    path = state.get("InputPath", "$")
    if path is None:
        return {}
    try:
        return select(path, state_input)
    except PathNotFound as e:
        raise _invalid_path(path, e) from None


def effective_input(state: dict, state_input: Any, ctx: dict) -> Any:
    """What a state works on: InputPath, then Parameters.

    A Map state applies its ItemSelector (or legacy Parameters) per item: pass the item's
    context object (``ctx["Map"]["Item"]`` with ``Index`` and ``Value``) to get that
    item's input; without it the result is the Map's input after InputPath, from which
    ``items`` selects the array.
    """
    data = input_path(state, state_input)
    if state.get("Type") == "Map":
        if "Item" not in ctx.get("Map", {}):
            return data
        template = state.get("ItemSelector", state.get("Parameters"))
        if template is None:
            return ctx["Map"]["Item"]["Value"]
        return payload(template, data, ctx)
    if "Parameters" in state:
        return payload(state["Parameters"], data, ctx)
    return data


def items(state: dict, map_input: Any) -> list[Any]:
    """A Map state's items: ItemsPath (``$`` by default) over its input after InputPath."""
    path = state.get("ItemsPath", "$")
    try:
        value = select(path, map_input)
    except PathNotFound as e:
        raise _invalid_path(path, e) from None
    if not isinstance(value, list):
        raise StatesError(RUNTIME, f"Map state input must be an array but was: {compact(value)}")
    return value


def result_path(path: str | None, state_input: Any, result: Any) -> Any:
    """ResultPath: where the result goes in (a copy of) the state's input."""
    if path is None:
        return state_input
    parsed = parse(path)
    if not parsed.steps:
        return result
    if not isinstance(state_input, dict):
        raise StatesError(RESULT_PATH_MATCH_FAILURE,
                          f"Unable to apply ResultPath '{path}' to input "
                          f"'{compact(state_input)}': it is not a JSON object")
    out = copy.deepcopy(state_input)
    node = out
    for k, step in enumerate(parsed.steps[:-1]):
        key = step.args[0]
        nxt = node.get(key)
        if nxt is None and key not in node:
            nxt = node[key] = {}
        if not isinstance(nxt, dict):
            raise StatesError(RESULT_PATH_MATCH_FAILURE,
                              f"Unable to apply ResultPath '{path}' to input "
                              f"'{compact(state_input)}': "
                              f"{normalized(parsed.steps[:k + 1])} "
                              "is not a JSON object")
        node = nxt
    node[parsed.steps[-1].args[0]] = result
    return out


def state_output(state: dict, state_input: Any, result: Any, ctx: dict) -> Any:
    """A state's output from its raw input and its result: ResultSelector (on the result),
    ResultPath (into the input), OutputPath (on that)."""
    if "ResultSelector" in state:
        result = payload(state["ResultSelector"], result, ctx)
    combined = result_path(state.get("ResultPath", "$"), state_input, result)
    path = state.get("OutputPath", "$")
    if path is None:
        return {}
    try:
        return select(path, combined)
    except PathNotFound as e:
        raise _invalid_path(path, e) from None


def check_size(value: Any, state_name: str) -> None:
    """``States.DataLimitExceeded`` (AWS's text) when ``value`` is over 256 KiB as JSON."""
    if len(compact(value).encode()) > MAX_PAYLOAD_BYTES:
        raise StatesError(DATA_LIMIT_EXCEEDED,
                          f"The state/task '{state_name}' returned a result with a size "
                          "exceeding the maximum number of bytes service limit.")
