"""What the engine needs to know about a kind of step, in one place.

The definition checker, the cache key, the runner and ``runs stop`` ask a step's
``StepType`` instead of branching on ``step.type``: a new kind of step is one subclass in
one module, registered by name (see ``stackyard.engine.steps``), and the conformance suite
(``tests/engine/test_step_types.py``) runs against it automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from stackyard._checks import check_output_parameters
from stackyard.engine._execute import Attempt

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef

Tokens = list[str | int]


class StepType:
    """The behaviour of one definition ``Type``; subclasses override what applies."""

    name: ClassVar[str] = ""
    # A live job of this step survives its runner, so a resumed run adopts it.
    adoptable: ClassVar[bool] = False
    # A run may reuse an identical earlier run's outputs (CacheConfig).
    cacheable: ClassVar[bool] = True
    # Its resolved arguments are JSON (stored as the step's lineage evidence).
    records_arguments: ClassVar[bool] = True

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        """Argument and code checks at compile time; raise ``DefinitionError`` naming the
        step. A malformed argument (a missing key) is reported by the compiler."""

    def property_error(self, step: StepDef, tokens: Tokens) -> str | None:
        """None if ``Steps.<name>.<tokens>`` is something this step reports, else why not."""
        return no_property(step, tokens)

    def branches(self, step: StepDef) -> list[tuple[str, bool]]:
        """(step, outcome) pairs: steps that run only when this one decides ``outcome``."""
        return []

    def code_files(self, step: StepDef) -> list[str]:
        """Files a run snapshots when it starts (so a resume runs the code it began with)."""
        return []

    def cache_arguments(self, step: StepDef, resolved: Any,
                        outputs: Mapping[str, Any]) -> Any:
        """What of the step's input the cache key hashes (besides ``cache_inputs``)."""
        return resolved

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        """(label, URI) of each input whose content the cache key hashes (label ``code``:
        the code's hash)."""
        return []

    def execute(self, attempt: Attempt, resolved: Any) -> dict[str, Any]:
        """Start (or adopt) the step's work; return its properties or raise ``StepFailed``."""
        raise NotImplementedError

    def stop(self, run_id: str, step: str, n: int) -> None:
        """Stop the step's own jobs when no runner is alive (beyond the attempt's process,
        which ``runs stop`` ends itself)."""

    def run_failure_reason(self, step: StepDef, reason: str | None) -> str:
        """The run's failure reason when this step is the one that failed it."""
        return f"step {step.name!r} failed: {reason}"

    def lineage(self, arguments: dict[str, Any], outputs: dict[str, Any],
                uri: str) -> dict[str, Any]:
        """What lineage records of the step that wrote ``uri``: ``code`` ({path,
        entry_point}), ``inputs`` ([(name, URI)]) and any further facts (hyperparameters)."""
        return {}


def no_property(step: StepDef, tokens: Tokens) -> str:
    return f"step {step.name!r} ({step.type}) has no property {'.'.join(map(str, tokens))!r}"


class DeclaredOutputsStepType(StepType):
    """A step whose outputs are declared in ``OutputParameters`` (Lambda, Callback):
    ``Steps.X.OutputParameters['n']`` exists only for a declared ``n``, so a typo in a
    later step's reference is caught when the pipeline is compiled, not when it runs."""

    # The step kind as messages name it ("Lambda", "callback").
    output_owner: ClassVar[str] = ""

    def declared_outputs(self, step: StepDef) -> dict[str, str]:
        """``OutputParameters`` as {name: type} (``_checks.check_output_parameters``)."""
        return check_output_parameters(step.raw.get("OutputParameters"), self.output_owner)

    def property_error(self, step: StepDef, tokens: Tokens) -> str | None:
        if len(tokens) == 2 and tokens[0] == "OutputParameters":
            names = self.declared_outputs(step)
            return None if tokens[1] in names else (
                f"step {step.name!r} declares no output {tokens[1]!r} "
                f"(outputs: {', '.join(sorted(names)) or 'none'})")
        return super().property_error(step, tokens)
