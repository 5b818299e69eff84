"""The engine's entry for ``TuningStep``: one tuning job per step attempt.

The tuning job's name comes from the run, the step and the attempt, so a resumed run
continues the same tuning job (finished trials kept, live ones adopted) while a retry
after a failure starts a fresh one.
"""

from __future__ import annotations

from typing import Any

from stackyard._checks import job_name
from stackyard.errors import StepFailed
from stackyard.tuning._orchestrator import TuningRun
from stackyard.tuning._tuner import start_tuning_job


def run_tuning_step(attempt: Any, resolved: dict[str, Any]) -> dict[str, Any]:
    name = job_name(attempt.step.name, attempt.run_id + (f"-a{attempt.n}" if attempt.n > 1 else ""))
    start_tuning_job(name, resolved)

    def on_log(job: str, line: str) -> None:
        if attempt.on_log is not None:
            attempt.on_log(f"[{job.rsplit('-', 1)[-1]}] {line}")

    result = TuningRun(name, on_log=on_log).run()
    if result["HyperParameterTuningJobStatus"] != "Completed":
        raise StepFailed(f"tuning job {name}: {result['FailureReason']}", "JobError")
    return result
