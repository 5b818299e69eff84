"""Conditions for ``ConditionStep``; each compiles to SageMaker's condition JSON."""

from __future__ import annotations

from typing import Any

from stackyard.workflow._expr import collect_refs, to_json


class Condition:
    type_name = ""

    def to_definition(self) -> dict:
        raise NotImplementedError

    def step_refs(self) -> list:
        return []


class _Comparison(Condition):
    def __init__(self, left: Any, right: Any) -> None:
        self.left = left
        self.right = right

    def to_definition(self) -> dict:
        return {"Type": self.type_name, "LeftValue": to_json(self.left),
                "RightValue": to_json(self.right)}

    def step_refs(self) -> list:
        return collect_refs([self.left, self.right])


class ConditionEquals(_Comparison):
    type_name = "Equals"


class ConditionGreaterThan(_Comparison):
    type_name = "GreaterThan"


class ConditionGreaterThanOrEqualTo(_Comparison):
    type_name = "GreaterThanOrEqualTo"


class ConditionLessThan(_Comparison):
    type_name = "LessThan"


class ConditionLessThanOrEqualTo(_Comparison):
    type_name = "LessThanOrEqualTo"


class ConditionIn(Condition):
    type_name = "In"

    def __init__(self, value: Any, in_values: list[Any]) -> None:
        self.value = value
        self.in_values = list(in_values)

    def to_definition(self) -> dict:
        return {"Type": "In", "QueryValue": to_json(self.value),
                "Values": to_json(self.in_values)}

    def step_refs(self) -> list:
        return collect_refs([self.value, self.in_values])


class ConditionNot(Condition):
    type_name = "Not"

    def __init__(self, expression: Condition) -> None:
        self.expression = expression

    def to_definition(self) -> dict:
        return {"Type": "Not", "Condition": self.expression.to_definition()}

    def step_refs(self) -> list:
        return self.expression.step_refs()


class ConditionOr(Condition):
    type_name = "Or"

    def __init__(self, conditions: list[Condition]) -> None:
        self.conditions = list(conditions)

    def to_definition(self) -> dict:
        return {"Type": "Or", "Conditions": [c.to_definition() for c in self.conditions]}

    def step_refs(self) -> list:
        return [s for c in self.conditions for s in c.step_refs()]
