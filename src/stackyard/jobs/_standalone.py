"""Running one job outside a pipeline: a one-step pipeline through the same engine, so a
standalone ``fit()`` is as durable, logged and inspectable as any pipeline step."""

from __future__ import annotations

from typing import Any

from stackyard import _checks
from stackyard.errors import StackyardError
from stackyard.workflow import Pipeline, ProcessingStep, TrainingStep
from stackyard.workflow._session import JobArgs


def run_now(job_name: str, args: JobArgs) -> dict[str, Any]:
    name = _checks.job_name(job_name)
    step_cls = TrainingStep if args.kind == "Training" else ProcessingStep
    step = step_cls(name=name, step_args=args)
    execution = Pipeline(name=f"{name}-job", steps=[step]).start()
    execution.wait()
    steps = execution.list_steps()
    if execution.describe()["PipelineExecutionStatus"] != "Succeeded":
        reason = steps[0].get("FailureReason") if steps else "unknown"
        raise StackyardError(f"job {name} failed: {reason}")
    return {"run_id": execution.run_id, "outputs": steps[0]["Metadata"]}
