"""The engine's ``Tuning`` step type: one tuning job per step attempt.

The tuning job's name comes from the run, the step and the attempt, so a resumed run
continues the same tuning job (finished trials kept, live ones adopted) while a retry
after a failure starts a fresh one. The engine imports this module by name, only when a
definition has a Tuning step; the orchestrator (optuna, ~0.6 s) only when one runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackyard._checks import job_name
from stackyard.engine.steps import StepType
from stackyard.engine.steps.training import (
    check_training_request,
    training_inputs,
    training_lineage,
)
from stackyard.errors import StepFailed

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef
    from stackyard.engine.steps import Attempt

_PROPERTIES = ("HyperParameterTuningJobName", "HyperParameterTuningJobStatus",
               "TrainingJobStatusCounters", "BestTrainingJob")


def tuning_job_name(run_id: str, step: str, n: int) -> str:
    """The step's tuning job: a valid name whatever the step is called, never losing the run
    id and attempt that make it unique."""
    return job_name(step, run_id + (f"-a{n}" if n > 1 else ""))


class TuningStepType(StepType):
    name = "Tuning"

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        check_training_request(step, step.arguments.get("TrainingJobDefinition", {}))

    def property_error(self, step: StepDef, tokens: list[str | int]) -> str | None:
        head = tokens[0] if tokens else None
        if head in _PROPERTIES:
            return None
        if head == "TopModelArtifacts" and len(tokens) == 2 and isinstance(tokens[1], int):
            budget = step.arguments.get("HyperParameterTuningJobConfig", {}).get(
                "ResourceLimits", {}).get("MaxNumberOfTrainingJobs", 0)
            return None if tokens[1] < budget else (
                f"step {step.name!r} runs at most {budget} training jobs; "
                f"there is no top model {tokens[1]}")
        return super().property_error(step, tokens)

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        return training_inputs(resolved["TrainingJobDefinition"])

    def execute(self, attempt: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
        """Run (or continue) the step's tuning job; a stop of the run stops it too."""
        from stackyard.tuning._orchestrator import TuningRun
        from stackyard.tuning._tuner import start_tuning_job

        name = tuning_job_name(attempt.run_id, attempt.step.name, attempt.n)
        start_tuning_job(name, resolved)

        def on_log(job: str, line: str) -> None:
            if attempt.on_log is not None:
                attempt.on_log(f"[{job.rsplit('-', 1)[-1]}] {line}")

        result = TuningRun(name, on_log=on_log, stop=attempt.stopping).run()
        if result["HyperParameterTuningJobStatus"] != "Completed":
            raise StepFailed(f"tuning job {name}: {result['FailureReason']}", "JobError")
        return result

    def stop(self, run_id: str, step: str, n: int) -> None:
        """Stop the live trials of a TuningStep attempt whose runner is gone."""
        from stackyard.tuning._orchestrator import stop_trials

        stop_trials(tuning_job_name(run_id, step, n))

    def lineage(self, arguments: dict[str, Any], outputs: dict[str, Any],
                uri: str) -> dict[str, Any]:
        """The training request, with the hyperparameters of the trial that wrote ``uri``."""
        from stackyard.store import open_store
        from stackyard.tuning._ranges import to_hyperparameters

        info = training_lineage(arguments.get("TrainingJobDefinition", {}))
        name = outputs.get("HyperParameterTuningJobName")
        trial = next((t for t in open_store().get_trials(name) if t["model_uri"] == uri),
                     None) if name else None
        if trial is not None:
            info["hyperparameters"].update(to_hyperparameters(trial["params"]))
            info["training_job"] = trial["job_name"]
            info["objective"] = trial["objective"]
        return info
