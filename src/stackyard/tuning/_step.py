"""The engine's entry for ``TuningStep``: one tuning job per step attempt.

The tuning job's name comes from the run, the step and the attempt, so a resumed run
continues the same tuning job (finished trials kept, live ones adopted) while a retry
after a failure starts a fresh one.
"""

from __future__ import annotations

from typing import Any

from stackyard._checks import job_name
from stackyard.errors import StepFailed
from stackyard.tuning._orchestrator import TuningRun, stop_trials
from stackyard.tuning._tuner import start_tuning_job


def tuning_job_name(run_id: str, step: str, n: int) -> str:
    """The step's tuning job: a valid name whatever the step is called, never losing the run
    id and attempt that make it unique."""
    return job_name(step, run_id + (f"-a{n}" if n > 1 else ""))


def run_tuning_step(attempt: Any, resolved: dict[str, Any]) -> dict[str, Any]:
    """Run (or continue) the step's tuning job; a stop of the run stops it too."""
    name = tuning_job_name(attempt.run_id, attempt.step.name, attempt.n)
    start_tuning_job(name, resolved)

    def on_log(job: str, line: str) -> None:
        if attempt.on_log is not None:
            attempt.on_log(f"[{job.rsplit('-', 1)[-1]}] {line}")

    result = TuningRun(name, on_log=on_log, stop=attempt.stopping).run()
    if result["HyperParameterTuningJobStatus"] != "Completed":
        raise StepFailed(f"tuning job {name}: {result['FailureReason']}", "JobError")
    return result


def stop_tuning_step(run_id: str, step: str, n: int) -> None:
    """Stop the live trials of a TuningStep attempt whose runner is gone."""
    stop_trials(tuning_job_name(run_id, step, n))
