"""Typed pipeline parameters: checked at ``start()`` before any step runs."""

from __future__ import annotations

from typing import Any, ClassVar

from stackyard._checks import check_number
from stackyard.errors import ParameterError, UsageError
from stackyard.workflow._expr import PipelineVariable


class Parameter(PipelineVariable):
    type_name: ClassVar[str] = ""

    def __init__(
        self, name: str, default_value: Any = None, enum_values: list[Any] | None = None
    ) -> None:
        self.name = name
        self.enum_values = list(enum_values) if enum_values is not None else None
        self.default_value = (
            None if default_value is None else self.coerce(default_value, where="default_value")
        )

    @property
    def expr(self) -> dict:
        return {"Get": f"Parameters.{self.name}"}

    def to_definition(self) -> dict:
        d: dict[str, Any] = {"Name": self.name, "Type": self.type_name}
        if self.default_value is not None:
            d["DefaultValue"] = self.default_value
        if self.enum_values is not None:
            d["EnumValues"] = self.enum_values
        return d

    def coerce(self, value: Any, where: str = "value") -> Any:
        """Accept the parameter's type (or its string form, as the CLI passes)."""
        v = self._convert(value)
        if v is None:
            raise ParameterError(
                f"parameter {self.name!r} is {self.type_name}; got {value!r} "
                f"({type(value).__name__}) as its {where}"
            )
        if self.enum_values is not None and v not in self.enum_values:
            raise ParameterError(
                f"parameter {self.name!r} must be one of {self.enum_values}; got {v!r}"
            )
        return v

    def _convert(self, value: Any) -> Any:
        raise NotImplementedError


class ParameterString(Parameter):
    type_name = "String"

    def _convert(self, value: Any) -> Any:
        return value if isinstance(value, str) else None


class _Number(Parameter):
    """Integer and Float values go through ``_checks.check_number``: ASCII digits only
    (``int("١")`` is 1 in Python) and finite (``nan`` would make every condition false and
    ``runs describe --json`` print invalid JSON)."""

    integer: ClassVar[bool] = False

    def _convert(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        if self.integer and isinstance(value, float):
            return None
        try:
            number = check_number(value, f"parameter {self.name!r}", integer=self.integer)
        except UsageError as e:
            raise ParameterError(f"{e} ({self.type_name})") from None
        return number if self.integer else float(number)


class ParameterInteger(_Number):
    type_name = "Integer"
    integer = True


class ParameterFloat(_Number):
    type_name = "Float"


class ParameterBoolean(Parameter):
    type_name = "Boolean"

    def _convert(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return None


PARAMETER_TYPES: dict[str, type[Parameter]] = {
    c.type_name: c for c in (ParameterString, ParameterInteger, ParameterFloat, ParameterBoolean)
}


def parameter_from_definition(d: dict) -> Parameter:
    cls = PARAMETER_TYPES.get(d.get("Type", ""))
    if cls is None:
        raise ParameterError(f"parameter {d.get('Name')!r} has unknown type {d.get('Type')!r}")
    return cls(d["Name"], d.get("DefaultValue"), d.get("EnumValues"))


def resolve_parameters(params: list[Parameter], given: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter's value for one run; unknown, missing or mistyped ones are errors."""
    given = dict(given or {})
    known = {p.name: p for p in params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; this pipeline takes: "
            f"{', '.join(known) or 'none'}"
        )
    out: dict[str, Any] = {}
    for name, p in known.items():
        if name in given:
            out[name] = p.coerce(given[name])
        elif p.default_value is not None:
            out[name] = p.default_value
        else:
            raise ParameterError(f"parameter {name!r} has no default; pass -p {name}=VALUE")
    return out
