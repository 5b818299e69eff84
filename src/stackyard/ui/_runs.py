"""Pipelines (list, DAG, definition versions with a diff) and runs (a filtered, paged list;
one run with its live DAG, Gantt chart, attempts, metrics, logs and actions)."""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, StreamingResponse

from stackyard import engine
from stackyard.errors import DefinitionError, UsageError
from stackyard.store import open_store
from stackyard.ui import _svg
from stackyard.ui._web import Page, form, int_arg, name_arg, render, run_arg

router = APIRouter(route_class=Page)
PAGE = 50
STATUSES = ("Executing", "Succeeded", "Failed", "Stopped")
FINISHED = ("Succeeded", "Failed", "Stopped")
WITHIN = {"1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}


# ---- pipelines -----------------------------------------------------------------------------
@router.get("/pipelines")
def pipelines(request: Request) -> Any:
    return render(request, "pipelines.html", pipelines=engine.list_pipelines())


def _graph(definition: dict[str, Any]) -> _svg.Graph | None:
    try:
        return _svg.pipeline_graph(definition)
    except DefinitionError:   # an old version the current engine no longer accepts
        return None


@router.get("/pipelines/{name}")
def pipeline(request: Request, name: str, version: str | None = None,
             diff: str | None = None) -> Any:
    p = engine.describe_pipeline(name_arg(name, "pipeline") or "")
    by_n = {v["version"]: v for v in p["versions"]}
    n = int_arg(version, "version", p["latest_version"])
    if n not in by_n:
        raise UsageError(f"pipeline {name} has no version {n}; it has 1..{p['latest_version']}")
    shown = by_n[n]
    other = int_arg(diff, "diff", 0, lo=0)
    lines: list[str] = []
    if other:
        if other not in by_n:
            raise UsageError(f"pipeline {name} has no version {other} to compare with")
        lines = list(difflib.unified_diff(
            json.dumps(by_n[other]["definition"], indent=2, sort_keys=True).splitlines(),
            json.dumps(shown["definition"], indent=2, sort_keys=True).splitlines(),
            f"version {other}", f"version {n}", lineterm="", n=3))
    g = _graph(shown["definition"])
    runs = engine.list_runs(p["name"], 10)
    return render(request, "pipeline.html", p=p, shown=shown, diff_with=other,
                  diff=lines, dag=_svg.dag(g) if g else None, runs=runs,
                  versions=sorted(by_n, reverse=True))


# ---- runs list ---------------------------------------------------------------------------
@router.get("/runs")
def runs(request: Request, pipeline: str | None = None, status: str | None = None,
         within: str | None = None, page: str | None = None) -> Any:
    pipe = name_arg(pipeline, "pipeline")
    if status and status not in STATUSES:
        raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if within and within not in WITHIN:
        raise UsageError(f"within {within!r} is not one of {', '.join(WITHIN)}")
    filters = {"status": status or None,
               "since": time.time() - WITHIN[within] if within else None}
    total = engine.count_runs(pipe, **filters)
    pages = max(1, -(-total // PAGE))
    n = min(int_arg(page, "page", 1), pages)
    rows = engine.list_runs(pipe, PAGE, offset=(n - 1) * PAGE, **filters)
    query = {k: v for k, v in (("pipeline", pipe), ("status", status), ("within", within))
             if v}
    return render(request, "runs.html", runs=rows, total=total, page=n, pages=pages,
                  query=query, pipelines=[p["name"] for p in engine.list_pipelines()],
                  statuses=STATUSES, within_choices=WITHIN, pipeline=pipe or "",
                  status=status or "", within=within or "")


# ---- one run -----------------------------------------------------------------------------
def _step_types(run: dict[str, Any]) -> tuple[_svg.Graph | None, dict[str, Any]]:
    for v in engine.describe_pipeline(run["pipeline"])["versions"]:
        if v["version"] == run["pipeline_version"]:
            return _graph(v["definition"]), v["definition"]
    return None, {}


@router.get("/runs/{run_id}")
def run(request: Request, run_id: str) -> Any:
    from stackyard.callbacks._api import waiting_steps

    d = engine.describe_run(run_arg(run_id))
    store = open_store()
    attempts: dict[str, list[dict[str, Any]]] = {}
    for a in store.get_attempts(d["run_id"]):
        attempts.setdefault(a["step"], []).append(a)
    graph, _ = _step_types(d)
    status = {s["name"]: s["status"] for s in d["steps"]}
    now = time.time()
    rows = [{"step": s["name"], "cache_hit": s["cache_hit"],
             "attempts": attempts.get(s["name"]) or (
                 [{"n": 0, "status": s["status"], "start_time": s["start_time"],
                   "end_time": s["end_time"]}] if s["start_time"] else [])}
            for s in d["steps"]]
    rows = [r for r in rows if r["attempts"]]
    charts, finals = [], []
    for s in d["steps"]:
        series = store.get_metrics(d["run_id"], s["name"])
        if any(len(v) > 1 for v in series.values()):     # a curve: values over the job
            charts.append(_svg.line_chart(
                {k: list(enumerate(v, 1)) for k, v in sorted(series.items())},
                title=f"{s['name']}: metrics", xlabel="report #"))
        else:                                           # one value each: a table says it
            finals += [(s["name"], k, v[0]) for k, v in sorted(series.items()) if v]
    return render(
        request, "run.html", d=d, lineage=_lineage(d), attempts=attempts,
        waiting=waiting_steps(d["run_id"]),
        dag=_svg.dag(graph, status, link="#step-") if graph else None,
        gantt=_svg.gantt(rows, d["start_time"], now) if rows else None, charts=charts,
        finals=finals,
        finished=d["status"] in FINISHED,
        log_steps=sorted({a["step"] for a in store.get_attempts(d["run_id"]) if a["job_dir"]}
                         | (set(graph.nodes) if graph and d["status"] not in FINISHED
                            else set())))


def _lineage(d: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Where this run's results went and came from, as (step, what, link): versions it
    registered (their lineage is on the registry page), tuning jobs it ran, runs whose
    outputs a cache hit reused."""
    out = []
    for s in d["steps"]:
        o = s["outputs"] or {}
        if o.get("ModelPackageRef"):
            out.append((s["name"], f"registered {o['ModelPackageRef']}",
                        f"/ui/models/{o['ModelPackageRef']}#lineage"))
        if o.get("HyperParameterTuningJobName"):
            out.append((s["name"], f"tuning job {o['HyperParameterTuningJobName']}",
                        f"/ui/tuning/{o['HyperParameterTuningJobName']}"))
        if s["cache_hit"] and s["cache_source"]:
            out.append((s["name"], f"outputs reused from run {s['cache_source']}",
                        f"/ui/runs/{s['cache_source']}"))
    return out


def _snapshot(run_id: str) -> dict[str, Any]:
    d = engine.describe_run(run_id)
    return {"status": d["status"], "failure_reason": d["failure_reason"],
            "steps": {s["name"]: {"status": s["status"], "attempts": s["attempts"],
                                  "cache_hit": bool(s["cache_hit"])} for s in d["steps"]}}


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> StreamingResponse:
    """Server-sent events: the run's status and each step's, whenever they change, until
    the run has finished (then one ``end`` event) or the page goes away."""
    run_id = run_arg(run_id)
    first = await asyncio.to_thread(_snapshot, run_id)   # 404 before the stream starts
    draining = getattr(request.app.state, "draining", None)

    async def stream() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        snap = first
        while True:
            if snap != last:
                yield f"event: run\ndata: {json.dumps(snap)}\n\n"
                last = snap
            if snap["status"] in FINISHED:
                yield "event: end\ndata: {}\n\n"
                return
            if (draining is not None and draining.is_set()) or await request.is_disconnected():
                return
            await asyncio.sleep(0.3)
            snap = await asyncio.to_thread(_snapshot, run_id)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---- actions -------------------------------------------------------------------------------
@router.post("/runs/{run_id}/{action}")
async def act(request: Request, run_id: str, action: str) -> Any:
    run_id = run_arg(run_id)
    fields = await form(request)
    if action == "stop":
        await asyncio.to_thread(engine.stop_run, run_id)
    elif action == "resume":
        await asyncio.to_thread(engine.resume_detached, run_id)
    elif action == "retry":
        await asyncio.to_thread(engine.resume_detached, run_id, retry=True)
    elif action == "callback":
        await asyncio.to_thread(_answer, fields)
    else:
        raise UsageError(f"unknown action {action!r}: stop, resume, retry or callback")
    return RedirectResponse(f"/ui/runs/{run_id}", 303)


def _answer(fields: dict[str, str]) -> None:
    """A callback answer from the run page: success with ``NAME=VALUE`` lines as the
    step's outputs, or failure with a reason."""
    from stackyard import callbacks

    token = fields.get("token", "")
    if fields.get("answer") == "fail":
        callbacks.send_pipeline_execution_step_failure(
            CallbackToken=token, FailureReason=fields.get("reason") or "failed from the web UI")
        return
    outputs = []
    for line in fields.get("outputs", "").splitlines():
        if line.strip():
            if "=" not in line:
                raise UsageError(f"output {line.strip()!r}: write NAME=VALUE, one a line")
            k, v = line.split("=", 1)
            outputs.append({"Name": k.strip(), "Value": v.strip()})
    callbacks.send_pipeline_execution_step_success(CallbackToken=token,
                                                   OutputParameters=outputs)
