"""Runs (list, describe, steps, attempts, logs; stop, resume, retry) and pipelines."""

from __future__ import annotations

import asyncio
import codecs
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from stackyard import engine
from stackyard.errors import NotFoundError
from stackyard.server import _params as P
from stackyard.store import open_store

router = APIRouter(tags=["runs"])
RUN_STATUSES = ("Executing", "Succeeded", "Failed", "Stopped")
FINISHED = ("Succeeded", "Failed", "Stopped")


class RunSummary(P.Open):
    run_id: str
    pipeline: str
    status: str
    start_time: float
    end_time: float | None


class RunPage(P.Open):
    runs: list[RunSummary]
    total: int
    offset: int
    next_offset: int | None


class Step(P.Open):
    name: str
    status: str
    attempts: int
    cache_hit: bool
    start_time: float | None
    end_time: float | None
    outputs: dict[str, Any]
    failure_reason: str | None


class Run(RunSummary):
    parameters: dict[str, Any]
    failure_reason: str | None
    pipeline_version: int
    steps: list[Step]


class Attempt(P.Open):
    step: str
    n: int
    status: str
    start_time: float
    end_time: float | None
    error_type: str | None
    reason: str | None
    metrics: dict[str, list[float]]


class Started(P.Open):
    run_id: str
    action: str
    pid: int


@router.get("/runs", response_model=RunPage, summary="Runs, newest first, one page")
def list_runs(pipeline: str | None = None, status: str | None = None,
              since: str | None = None, until: str | None = None,
              limit: str | None = None, offset: str | None = None) -> dict[str, Any]:
    """Filters: ``pipeline``, ``status`` (Executing, Succeeded, Failed, Stopped),
    ``since``/``until`` (start time in epoch seconds, ``[since, until)``). Pages of
    ``limit`` (1..1000, default 50) from ``offset``."""
    filters = {"status": P.choice(status, "status", RUN_STATUSES),
               "since": P.epoch(since, "since"), "until": P.epoch(until, "until")}
    pipe = P.name("pipeline", pipeline) if pipeline is not None else None
    n, start = P.limit(limit), P.offset(offset)
    rows = engine.list_runs(pipe, n, offset=start, **filters)
    total = engine.count_runs(pipe, **filters)
    return {"runs": rows, "total": total, "offset": start,
            "next_offset": start + n if start + n < total else None}


@router.get("/runs/{run_id}", response_model=Run, summary="One run with its steps")
def describe_run(run_id: str) -> dict[str, Any]:
    return engine.describe_run(P.run_id(run_id))


@router.get("/runs/{run_id}/steps", response_model=list[Step], summary="A run's steps")
def list_steps(run_id: str) -> list[dict[str, Any]]:
    return engine.describe_run(P.run_id(run_id))["steps"]


@router.get("/runs/{run_id}/steps/{step}/attempts", response_model=list[Attempt],
            summary="Every attempt of one step, with its metric series")
def list_attempts(run_id: str, step: str) -> list[dict[str, Any]]:
    run = engine.describe_run(P.run_id(run_id))
    if step not in {s["name"] for s in run["steps"]}:
        raise NotFoundError(f"run {run_id} has no step {step!r}")
    store = open_store()
    metrics = store.get_metrics(run_id, step)
    rows = store.get_attempts(run_id, step)
    last = max((a["n"] for a in rows), default=None)
    return [{"step": a["step"], "n": a["n"], "status": a["status"],
             "start_time": a["start_time"], "end_time": a["end_time"],
             "error_type": a["error_type"], "reason": a["reason"],
             "metrics": metrics if a["n"] == last else {}} for a in rows]


@router.post("/runs/{run_id}/stop", summary="Stop a run (its jobs end; it becomes Stopped)")
def stop_run(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "status": engine.stop_run(P.run_id(run_id))}


@router.post("/runs/{run_id}/resume", response_model=Started, status_code=202,
             summary="Finish a run whose runner died, or that failed, in a new process")
def resume_run(run_id: str) -> dict[str, Any]:
    run_id = P.run_id(run_id)
    return {"run_id": run_id, "action": "resume", "pid": engine.resume_detached(run_id)}


@router.post("/runs/{run_id}/retry", response_model=Started, status_code=202,
             summary="Retry a Failed or Stopped run from its failed steps (kept: succeeded)")
def retry_run(run_id: str) -> dict[str, Any]:
    run_id = P.run_id(run_id)
    return {"run_id": run_id, "action": "retry",
            "pid": engine.resume_detached(run_id, retry=True)}


# ---- logs ----------------------------------------------------------------------------------
CHUNK = 64 * 1024


class _Tail:
    """New text of one attempt's log since the last read (UTF-8 split across reads is
    decoded once whole; undecodable bytes are shown as replacement characters)."""

    def __init__(self, step: str, n: int, path: Path) -> None:
        self.step, self.n, self.path = step, n, path
        self.pos = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def read(self) -> str:
        try:
            with self.path.open("rb") as f:
                f.seek(self.pos)
                data = f.read(CHUNK)
        except FileNotFoundError:
            return ""
        self.pos += len(data)
        return self.decoder.decode(data)


def _attempt_logs(run_id: str, step: str | None) -> list[tuple[str, int, Path]]:
    return [(a["step"], a["n"], Path(a["job_dir"]) / "log.txt")
            for a in open_store().get_attempts(run_id, step) if a["job_dir"]]


async def _follow(request: Request, run_id: str, step: str | None, follow: bool,
                  sse: bool) -> AsyncIterator[str]:
    """Every attempt's log, oldest first; with ``follow``, new attempts and lines as they
    come, until the run has finished and everything is sent (or the client or the server
    goes away)."""
    tails: dict[tuple[str, int], _Tail] = {}
    draining: threading.Event = request.app.state.draining

    def emit(t: _Tail, text: str, header: bool) -> str:
        if sse:
            return f"data: {json.dumps({'step': t.step, 'attempt': t.n, 'text': text})}\n\n"
        return f"==> {t.step} attempt {t.n}\n{text}" if header else text

    while True:
        finished = (await asyncio.to_thread(engine.describe_run, run_id))["status"] in FINISHED
        sent = False
        for s, n, path in await asyncio.to_thread(_attempt_logs, run_id, step):
            new = (s, n) not in tails
            t = tails.setdefault((s, n), _Tail(s, n, path))
            while text := await asyncio.to_thread(t.read):
                yield emit(t, text, new)
                new, sent = False, True
            if new and not sse:
                yield emit(t, "", True)
        if not follow or (finished and not sent) or draining.is_set() \
                or await request.is_disconnected():
            break
        await asyncio.sleep(0.25)
    if sse:
        yield "event: end\ndata: {}\n\n"


@router.get("/runs/{run_id}/logs", summary="Job logs of a run (or one step), streamed",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/plain": {}, "text/event-stream": {}}}})
async def logs(request: Request, run_id: str, step: str | None = None,
               follow: str | None = None) -> StreamingResponse:
    """Plain text (``==> STEP attempt N`` before each attempt's log), or server-sent events
    (``data: {"step", "attempt", "text"}``, then ``event: end``) when the request accepts
    ``text/event-stream``. ``follow=true`` keeps the answer open while the run executes."""
    run_id = P.run_id(run_id)
    await asyncio.to_thread(engine.describe_run, run_id)   # 404 before the stream starts
    if step is not None:
        P.name("step", step)
        steps = {s["name"] for s in (await asyncio.to_thread(engine.describe_run,
                                                             run_id))["steps"]}
        if step not in steps:
            raise NotFoundError(f"run {run_id} has no step {step!r}")
    sse = "text/event-stream" in request.headers.get("accept", "")
    return StreamingResponse(
        _follow(request, run_id, step, P.flag(follow, "follow"), sse),
        media_type="text/event-stream" if sse else "text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---- pipelines ----------------------------------------------------------------------------
pipelines = APIRouter(tags=["pipelines"])


class PipelineSummary(P.Open):
    name: str
    latest_version: int
    runs: int
    created_at: float
    updated_at: float


class PipelineVersion(P.Open):
    version: int
    created_at: float
    digest: str
    definition: dict[str, Any]


class Pipeline(P.Open):
    name: str
    latest_version: int
    versions: list[PipelineVersion]


@pipelines.get("/pipelines", response_model=list[PipelineSummary],
               summary="Every pipeline with its latest version and run count")
def list_pipelines() -> list[dict[str, Any]]:
    return engine.list_pipelines()


@pipelines.get("/pipelines/{name}", response_model=Pipeline,
               summary="A pipeline's definition versions, oldest first")
def describe_pipeline(name: str) -> dict[str, Any]:
    return engine.describe_pipeline(P.name("pipeline", name))


@pipelines.get("/pipelines/{name}/versions/{version}", response_model=PipelineVersion,
               summary="One definition version")
def pipeline_version(name: str, version: str) -> dict[str, Any]:
    v = P.integer(version, "version")
    for row in engine.describe_pipeline(P.name("pipeline", name))["versions"]:
        if row["version"] == v:
            return row
    raise NotFoundError(f"pipeline {name} has no version {v}")


router.include_router(pipelines)
