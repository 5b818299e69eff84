"""Typed pipeline parameters: checked at ``start()`` before any step runs (by the engine's
``_params``, which the definition's JSON alone is enough for)."""

from __future__ import annotations

from typing import Any, ClassVar

from stackyard.engine._params import coerce
from stackyard.errors import ParameterError
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
        """Accept the parameter's type (or its string form, as the CLI passes); the
        engine's rule, so the SDK and a run agree."""
        return coerce(self.type_name, self.name, value, self.enum_values, where)


class ParameterString(Parameter):
    type_name = "String"


class ParameterInteger(Parameter):
    type_name = "Integer"


class ParameterFloat(Parameter):
    type_name = "Float"


class ParameterBoolean(Parameter):
    type_name = "Boolean"


PARAMETER_TYPES: dict[str, type[Parameter]] = {
    c.type_name: c for c in (ParameterString, ParameterInteger, ParameterFloat, ParameterBoolean)
}


def parameter_from_definition(d: dict) -> Parameter:
    cls = PARAMETER_TYPES.get(d.get("Type", ""))
    if cls is None:
        raise ParameterError(f"parameter {d.get('Name')!r} has unknown type {d.get('Type')!r}")
    return cls(d["Name"], d.get("DefaultValue"), d.get("EnumValues"))
