"""Tuning jobs (with their trials), endpoints, and monitoring runs (with their reports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from stackyard import artifacts
from stackyard.errors import IntegrityError, NotFoundError
from stackyard.server import _params as P

router = APIRouter()


# ---- tuning ------------------------------------------------------------------------------
class TuningJob(P.Open):
    name: str
    status: str
    trials: int
    best_objective: float | None
    created_at: float
    end_time: float | None


class Trial(P.Open):
    number: int
    training_job_name: str
    status: str
    objective: float | None
    hyperparameters: dict[str, Any]
    start_time: float | None
    end_time: float | None
    failure_reason: str | None


class TuningJobDetail(P.Open):
    HyperParameterTuningJobName: str
    HyperParameterTuningJobStatus: str
    TrainingJobStatusCounters: dict[str, int]
    trials: list[Trial]


@router.get("/tuning-jobs", tags=["tuning"], response_model=list[TuningJob],
            summary="Tuning jobs, newest first")
def list_tuning_jobs(limit: str | None = None) -> list[dict[str, Any]]:
    from stackyard.tuning import list_tuning_jobs

    return list_tuning_jobs(P.limit(limit))


@router.get("/tuning-jobs/{name}", tags=["tuning"], response_model=TuningJobDetail,
            summary="A tuning job (DescribeHyperParameterTuningJob's fields) and its trials")
def describe_tuning_job(name: str) -> dict[str, Any]:
    from stackyard.tuning import describe_tuning_job, list_trials

    name = P.name("tuning job", name)
    return {**describe_tuning_job(name), "trials": list_trials(name)}


@router.get("/tuning-jobs/{name}/trials", tags=["tuning"], response_model=list[Trial],
            summary="A tuning job's trials, best first")
def list_trials(name: str) -> list[dict[str, Any]]:
    from stackyard.tuning import list_trials

    return list_trials(P.name("tuning job", name))


# ---- endpoints ---------------------------------------------------------------------------
class Endpoint(P.Open):
    name: str
    status: str
    url: str | None
    pid: int | None


@router.get("/endpoints", tags=["endpoints"], response_model=list[Endpoint],
            summary="Managed endpoints")
def list_endpoints() -> list[dict[str, Any]]:
    from stackyard.serving import list_endpoints

    return list_endpoints()


class UpdateStep(P.Open):
    at: float
    step: str | None
    share: float | None
    text: str


class EndpointUpdate(P.Open):
    generation: int
    status: str | None
    steps: list[UpdateStep]


class EndpointDetail(Endpoint):
    updates: list[EndpointUpdate]


@router.get("/endpoints/{name}", tags=["endpoints"], response_model=EndpointDetail,
            summary="One endpoint: URL, variants, weights, status, and its last two "
                    "updates' steps (plan, fleet healthy, traffic shifts, bakes, alarm, "
                    "end), newest first")
def describe_endpoint(name: str) -> dict[str, Any]:
    from stackyard.serving import describe_endpoint

    return describe_endpoint(P.name("endpoint", name))


# ---- monitoring --------------------------------------------------------------------------
class MonitoringRun(P.Open):
    run_id: str
    kind: str
    job: str
    source: str
    status: str
    violations: int | None
    created_at: float


class MonitoringRunDetail(MonitoringRun):
    outputs: dict[str, Any]
    violations_list: list[dict[str, Any]]


@router.get("/monitoring/runs", tags=["monitoring"], response_model=list[MonitoringRun],
            summary="Monitoring runs, newest first")
def list_monitoring_runs(endpoint: str | None = None, limit: str | None = None
                         ) -> list[dict[str, Any]]:
    from stackyard.monitor._run import list_monitoring_runs

    return list_monitoring_runs(P.name("endpoint", endpoint) if endpoint is not None
                                else None, P.limit(limit))


@router.get("/monitoring/runs/{run_id}", tags=["monitoring"],
            response_model=MonitoringRunDetail,
            summary="One monitoring run with its violations")
def describe_monitoring_run(run_id: str) -> dict[str, Any]:
    from stackyard.monitor._run import describe_monitoring_run
    from stackyard.monitor._violations import read_json

    r = describe_monitoring_run(P.run_id(run_id))
    path = r["outputs"].get("violations")
    return {**r, "violations_list": read_json(path, "violations")["violations"] if path
            else []}


@router.get("/monitoring/runs/{run_id}/report", tags=["monitoring"],
            response_class=HTMLResponse, summary="A run's self-contained HTML report")
def monitoring_report(run_id: str) -> HTMLResponse:
    """Checked against its stored hash before it is sent; served sandboxed (no scripts,
    nothing loaded from anywhere)."""
    from stackyard.monitor._run import describe_monitoring_run

    r = describe_monitoring_run(P.run_id(run_id))
    path = r["outputs"].get("report")
    if not path or not r["outputs"].get("uri"):
        raise NotFoundError(f"monitoring run {run_id} has no report ({r['status']})")
    tree = artifacts.verify(r["outputs"]["uri"])
    report = Path(path)
    if not report.resolve().is_relative_to(tree.resolve()):
        raise IntegrityError(f"monitoring run {run_id}: its report is not in its stored tree")
    return HTMLResponse(report.read_text(errors="replace"), headers={
        "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
                                   "img-src data:",
        "X-Content-Type-Options": "nosniff"})
