"""A step's declared output (``LambdaOutput``, ``CallbackOutput``): a name and a type from
the step kind's own enum, as SageMaker spells them; checked when declared."""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from stackyard.errors import DefinitionError


class TypedOutput:
    """Subclasses name their enum; ``output_type`` takes a member or its value."""

    enum: ClassVar[type[Enum]]

    def __init__(self, output_name: str | None = None, output_type: Any = "String") -> None:
        kind = type(self).__name__
        if not isinstance(output_name, str) or not output_name:
            raise DefinitionError(f"{kind} needs an output_name; got {output_name!r}")
        try:
            self.output_type = self.enum(getattr(output_type, "value", output_type))
        except ValueError:
            raise DefinitionError(
                f"{kind} {output_name!r}: output_type {output_type!r}; use "
                f"{self.enum.__name__}.String, Integer, Boolean or Float") from None
        self.output_name = output_name

    def to_request(self) -> dict[str, str]:
        return {"OutputName": self.output_name, "OutputType": self.output_type.value}
