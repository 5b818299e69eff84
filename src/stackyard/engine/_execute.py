"""What every step type's executor gets (``Attempt``), and the helpers of those that run
a job: its name, and running (or adopting) it with its pid recorded first."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackyard import _checks
from stackyard.errors import StepFailed

if TYPE_CHECKING:
    from stackyard import runtime
    from stackyard.engine._definition import StepDef
    from stackyard.engine._resolve import Context
    from stackyard.store import Store


@dataclass
class Attempt:
    store: Store
    run_id: str
    step: StepDef
    n: int
    job_dir: Path
    adopt: dict[str, Any] | None          # the attempt row of a job a dead runner left
    on_log: Callable[[str], None] | None
    functions: dict[str, Callable]        # live @step functions handed to this process
    stopping: threading.Event
    context: Callable[[], Context]        # expressions against the run so far
    snapshots: Mapping[str, str]          # @step source file -> its stored snapshot URI


def job_name(run_id: str, step: str) -> str:
    """The SageMaker job name of a step's job: unique per run (the run id is never cut)."""
    return _checks.job_name(step, run_id)


def run_job(a: Attempt, spec: runtime.JobSpec) -> runtime.JobResult:
    """Run (or adopt) the attempt's job; its pid is recorded before it can do anything."""
    def record(pid: int, start: str | None) -> None:
        a.store.set_attempt_pid(a.run_id, a.step.name, a.n, pid, start or "")

    def not_stopped() -> None:  # a stop that came while inputs were fetched
        if a.stopping.is_set():
            raise StepFailed("stopped by request before the job started", "Stopped")

    recorded = ((a.adopt or {}).get("pid"), (a.adopt or {}).get("pid_start"))
    from stackyard import runtime  # the job runtime: only where a job starts

    return runtime.run(spec, a.job_dir, adopt=a.adopt is not None, recorded=recorded,
                       on_started=record, before_start=not_stopped, on_log=a.on_log)


def check_job(result: runtime.JobResult) -> None:
    if not result.ok:
        raise StepFailed(result.reason or "the job failed", result.error_type or "JobError")


def job_json(a: Attempt, container_path: str, what: str) -> Any:
    """The JSON file a finished job wrote at ``container_path`` (e.g. ``/opt/ml/output/
    result.json``); a missing or broken one fails the step, saying ``what`` was expected."""
    import json

    from stackyard.runtime._job import host_path

    try:
        return json.loads(host_path(a.job_dir, container_path).read_text())
    except (OSError, ValueError) as e:
        raise StepFailed(f"{what} is missing: {e}", "JobError") from e
