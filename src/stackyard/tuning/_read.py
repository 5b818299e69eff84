"""Reading tuning jobs back: what ``stackyard tuning list/describe`` and the SDK's
``describe()`` show. Kept apart from the orchestrator so that a read never imports Optuna."""

from __future__ import annotations

from collections import Counter
from typing import Any

from stackyard.errors import NotFoundError
from stackyard.store import open_store
from stackyard.tuning._ranges import to_hyperparameters


def list_tuning_jobs(limit: int = 100) -> list[dict[str, Any]]:
    """Tuning jobs, newest first: name, status, trial count, best objective, times."""
    return open_store().list_tuning_jobs(limit)


def summary(name: str) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob-like properties, best trial first in TopModelArtifacts."""
    store = open_store()
    job = store.get_tuning_job(name)
    if job is None:
        raise NotFoundError(f"no tuning job {name!r}; see `stackyard tuning list`")
    cfg = job["config"]["HyperParameterTuningJobConfig"]
    minimize = cfg["HyperParameterTuningJobObjective"]["Type"] == "Minimize"
    metric = cfg["HyperParameterTuningJobObjective"]["MetricName"]
    trials = store.get_trials(name)
    done = sorted((t for t in trials if t["status"] == "Completed"),
                  key=lambda t: t["objective"] if minimize else -t["objective"])
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobStatus": job["status"],
        "FailureReason": job["failure_reason"],
        "TrainingJobStatusCounters": dict(Counter(t["status"] for t in trials)),
        "TopModelArtifacts": [t["model_uri"] for t in done],
    }
    if done:
        b = done[0]
        out["BestTrainingJob"] = {
            "TrainingJobName": b["job_name"],
            "TunedHyperParameters": {k: str(v) for k, v in
                                     to_hyperparameters(b["params"]).items()},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": metric,
                                                            "Value": b["objective"]},
            "ModelArtifacts": {"S3ModelArtifacts": b["model_uri"]},
        }
    return out


def trials_table(name: str) -> list[dict[str, Any]]:
    """Every trial, best first (completed by objective, then the rest by number)."""
    store = open_store()
    job = store.get_tuning_job(name)
    if job is None:
        raise NotFoundError(f"no tuning job {name!r}; see `stackyard tuning list`")
    minimize = job["config"]["HyperParameterTuningJobConfig"][
        "HyperParameterTuningJobObjective"]["Type"] == "Minimize"
    rows = []
    for t in store.get_trials(name):
        rows.append({"number": t["number"], "training_job_name": t["job_name"],
                     "status": t["status"], "objective": t["objective"],
                     "hyperparameters": to_hyperparameters(t["params"]),
                     "start_time": t["start_time"], "end_time": t["end_time"],
                     "failure_reason": t["failure_reason"], "model_uri": t["model_uri"],
                     "metrics": t["metrics"]})
    sign = 1 if minimize else -1
    rows.sort(key=lambda r: (r["objective"] is None, sign * (r["objective"] or 0), r["number"]))
    return rows
