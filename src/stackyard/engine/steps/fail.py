"""``FailStep``: ends the run Failed with its message (after any failure handlers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackyard.engine._execute import Attempt
from stackyard.engine.steps._base import StepType
from stackyard.errors import DefinitionError, StepFailed

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef


class FailStepType(StepType):
    name = "Fail"
    cacheable = False  # never cached (as on SageMaker): it never succeeds

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        message = step.arguments.get("ErrorMessage")
        if message is not None and not isinstance(message, str | int | float | dict):
            raise DefinitionError(f"step {step.name!r}: ErrorMessage must be text or an "
                                  f"expression; got {message!r}")

    def execute(self, a: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
        raise StepFailed(str(resolved.get("ErrorMessage") or "FailStep reached"), "FailStep")

    def run_failure_reason(self, step: StepDef, reason: str | None) -> str:
        return reason or "FailStep reached"
