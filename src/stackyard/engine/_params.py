"""Parameter values and durations as a definition states them, checked by the engine.

A definition's ``Parameters`` are JSON (name, type, default, allowed values); a run's values
are coerced here, before anything is written (the CLI passes strings, so ``"7"`` is an
Integer 7). The SDK's ``Parameter`` classes call the same ``coerce``, so the two agree.
"""

from __future__ import annotations

import re
from typing import Any

from stackyard._checks import check_number
from stackyard.errors import DefinitionError, ParameterError, UsageError

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")


def _convert(type_name: str, name: str, value: Any) -> Any:
    """The value as ``type_name``, or None when it is not one. Numbers go through
    ``check_number``: ASCII digits only (``int("١")`` is 1 in Python) and finite (``nan``
    would make every condition false and ``runs describe --json`` print invalid JSON)."""
    if type_name == "String":
        return value if isinstance(value, str) else None
    if type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return None
    integer = type_name == "Integer"
    if isinstance(value, bool) or not isinstance(value, int | float | str) or (
            integer and isinstance(value, float)):
        return None
    try:
        number = check_number(value, f"parameter {name!r}", integer=integer)
    except UsageError as e:
        raise ParameterError(f"{e} ({type_name})") from None
    return number if integer else float(number)


def coerce(type_name: str, name: str, value: Any, enum_values: list[Any] | None = None,
           where: str = "value") -> Any:
    """Accept the parameter's type (or its string form, as the CLI passes)."""
    v = _convert(type_name, name, value)
    if v is None:
        raise ParameterError(f"parameter {name!r} is {type_name}; got {value!r} "
                             f"({type(value).__name__}) as its {where}")
    if enum_values is not None and v not in enum_values:
        raise ParameterError(f"parameter {name!r} must be one of {enum_values}; got {v!r}")
    return v


def resolve_parameters(definitions: list[dict[str, Any]], given: dict[str, Any] | None
                       ) -> dict[str, Any]:
    """Every parameter's value for one run; unknown, missing or mistyped ones are errors
    (a default that does not fit its own parameter included)."""
    defaults: dict[str, Any] = {}
    for d in definitions:
        if d.get("Type") not in PARAMETER_TYPES:
            raise ParameterError(f"parameter {d.get('Name')!r} has unknown type "
                                 f"{d.get('Type')!r}")
        default = d.get("DefaultValue")
        defaults[d["Name"]] = None if default is None else coerce(
            d["Type"], d["Name"], default, d.get("EnumValues"), where="default_value")
    given = dict(given or {})
    known = {d["Name"]: d for d in definitions}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; this pipeline takes: "
            f"{', '.join(known) or 'none'}")
    out: dict[str, Any] = {}
    for name, d in known.items():
        if name in given:
            out[name] = coerce(d["Type"], name, given[name], d.get("EnumValues"))
        elif defaults[name] is not None:
            out[name] = defaults[name]
        else:
            raise ParameterError(f"parameter {name!r} has no default; pass -p {name}=VALUE")
    return out


_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$", re.ASCII)


def parse_duration(text: str) -> float:
    """ISO-8601 duration (``P30D``, ``PT1H30M``) to seconds; months count 30 days."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise DefinitionError(f"expire_after {text!r} is not an ISO-8601 duration like 'P30D'")
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    days = g["y"] * 365 + g["mo"] * 30 + g["w"] * 7 + g["d"]
    return days * 86400 + g["h"] * 3600 + g["mi"] * 60 + g["s"]
