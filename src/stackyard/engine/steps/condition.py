"""``ConditionStep``: decides which of its branches run; evaluated in the engine process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackyard.engine._execute import Attempt
from stackyard.engine._resolve import condition_error, evaluate
from stackyard.engine.steps._base import StepType, Tokens
from stackyard.errors import DefinitionError

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef

_BRANCHES = (("IfSteps", True), ("ElseSteps", False))


class ConditionStepType(StepType):
    name = "Condition"
    # Never cached (as on SageMaker): deciding costs nothing; a stale decision is wrong.
    cacheable = False

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        if not isinstance(step.arguments.get("Conditions"), list):
            raise DefinitionError(f"condition {step.name!r} has no list of Conditions")
        for cond in step.arguments["Conditions"]:
            err = condition_error(cond)
            if err:
                raise DefinitionError(f"condition {step.name!r}: {err}")
        for key, _ in _BRANCHES:
            for child in step.arguments.get(key, []):
                if child not in pdef.steps:
                    raise DefinitionError(f"condition {step.name!r} lists unknown step "
                                          f"{child!r}")

    def property_error(self, step: StepDef, tokens: Tokens) -> str | None:
        return None if tokens == ["Outcome"] else super().property_error(step, tokens)

    def branches(self, step: StepDef) -> list[tuple[str, bool]]:
        return [(child, when) for key, when in _BRANCHES
                for child in step.arguments.get(key, [])]

    def execute(self, a: Attempt, resolved: Any) -> dict[str, Any]:
        ctx = a.context()
        return {"Outcome": all(evaluate(c, ctx) for c in a.step.arguments["Conditions"])}
