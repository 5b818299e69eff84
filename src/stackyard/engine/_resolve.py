"""Resolve definition expressions against a running execution (pure given the context)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stackyard import artifacts
from stackyard.engine._paths import referenced_step, split_path
from stackyard.errors import StepFailed


@dataclass
class Context:
    parameters: dict[str, Any]
    execution: dict[str, Any]
    step_outputs: Callable[[str], dict[str, Any]]   # name -> recorded properties
    step_names: Collection[str]


def walk(value: Any, tokens: list[str | int], what: str) -> Any:
    for t in tokens:
        try:
            value = value[t]
        except (KeyError, IndexError, TypeError):
            raise StepFailed(f"{what}: nothing at {t!r}", "ResolveError") from None
    return value


def _step_get(get: str, ctx: Context) -> Any:
    rest = get[len("Steps."):]
    name = referenced_step(rest, ctx.step_names)
    if name is None:
        raise StepFailed(f"{get}: unknown step", "ResolveError")
    return walk(ctx.step_outputs(name), split_path(rest[len(name):]), get)


def _get(path: str, ctx: Context) -> Any:
    if path.startswith("Parameters."):
        return ctx.parameters[path[len("Parameters."):]]
    if path.startswith("Execution."):
        key = path[len("Execution."):]
        if key == "CurrentDateTime":
            return datetime.now(UTC).isoformat()
        return ctx.execution[key]
    return _step_get(path, ctx)


def read_json_path(doc: Any, path: str, what: str) -> Any:
    """A small JsonPath: ``a.b[0].c`` (a leading ``$.`` is allowed)."""
    path = path.removeprefix("$").removeprefix(".")
    return walk(doc, split_path(path) if path else [], what)


def _json_get(spec: dict[str, Any], ctx: Context) -> Any:
    pf_get = spec["PropertyFile"]["Get"]  # Steps.<name>.PropertyFiles.<pf>
    rest = pf_get[len("Steps."):]
    step, pf = rest.rsplit(".PropertyFiles.", 1)
    outputs = ctx.step_outputs(step)
    pfile = outputs.get("PropertyFiles", {}).get(pf)
    if pfile is None:
        raise StepFailed(f"JsonGet: step {step!r} recorded no property file {pf!r}",
                         "ResolveError")
    uri = walk(outputs, ["ProcessingOutputConfig", "Outputs", pfile["OutputName"], "S3Output",
                         "S3Uri"], f"JsonGet: output {pfile['OutputName']!r} of step {step!r}")
    path = artifacts.uri_to_path(uri) / pfile["FilePath"]
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise StepFailed(f"JsonGet: property file {pfile['FilePath']!r} was not written to "
                         f"output {pfile['OutputName']!r} of step {step!r}",
                         "ResolveError") from None
    except json.JSONDecodeError as e:
        raise StepFailed(f"JsonGet: {path} is not valid JSON ({e})", "ResolveError") from None
    return read_json_path(doc, spec["Path"], f"JsonGet {pf}:{spec['Path']}")


def _to_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def resolve(value: Any, ctx: Context) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            return _get(value["Get"], ctx)
        if set(value) == {"Std:Join"}:
            spec = value["Std:Join"]
            return spec["On"].join(_to_str(resolve(v, ctx)) for v in spec["Values"])
        if set(value) == {"Std:JsonGet"}:
            return _json_get(value["Std:JsonGet"], ctx)
        return {k: resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    return value


def _num(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


CONDITION_TYPES = frozenset({*_COMPARE, "Not", "Or", "In"})


def condition_error(cond: Any) -> str | None:
    """None if ``cond`` is a condition ``evaluate`` can run (operands are checked when they
    resolve), else what is wrong with it."""
    if not isinstance(cond, dict) or cond.get("Type") not in CONDITION_TYPES:
        return (f"{cond!r} is not a condition (a JSON object whose Type is one of "
                f"{', '.join(sorted(CONDITION_TYPES))})")
    if cond["Type"] == "Not":
        return condition_error(cond.get("Condition"))
    if cond["Type"] == "Or":
        inner = cond.get("Conditions")
        if not isinstance(inner, list):
            return "an Or condition needs a list of Conditions"
        return next(filter(None, map(condition_error, inner)), None)
    need = ("QueryValue", "Values") if cond["Type"] == "In" else ("LeftValue", "RightValue")
    missing = [k for k in need if k not in cond]
    return f"a {cond['Type']} condition needs {' and '.join(missing)}" if missing else None


def evaluate(cond: dict[str, Any], ctx: Context) -> bool:
    t = cond["Type"]
    if t == "Not":
        return not evaluate(cond["Condition"], ctx)
    if t == "Or":
        return any(evaluate(c, ctx) for c in cond["Conditions"])
    if t == "In":
        q = resolve(cond["QueryValue"], ctx)
        return q in resolve(cond["Values"], ctx)
    left, right = resolve(cond["LeftValue"], ctx), resolve(cond["RightValue"], ctx)
    if t != "Equals":
        left, right = _num(left), _num(right)
    try:
        return _COMPARE[t](left, right)
    except TypeError:
        raise StepFailed(f"condition {t}: cannot compare {left!r} with {right!r}",
                         "ResolveError") from None
