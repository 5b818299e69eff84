"""Callback steps over HTTP (the third way to answer): list them, answer one with
success (typed outputs, given as text as SageMaker carries them) or failure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from stackyard import callbacks
from stackyard.server import _params as P

router = APIRouter(tags=["callbacks"])


class Callback(P.Open):
    token: str
    queue: str
    run_id: str
    step: str
    arguments: dict[str, Any]
    status: str
    created_at: float


class Success(P.Body):
    outputs: dict[str, str] = Field(default_factory=dict)


class Failure(P.Body):
    reason: str


class Answered(P.Open):
    token: str
    status: str
    run_id: str


@router.get("/callbacks", response_model=list[Callback],
            summary="Callbacks of every run, newest first")
def list_callbacks(waiting: str | None = None) -> list[dict[str, Any]]:
    """``waiting=true``: only those not answered yet."""
    return callbacks.list_callbacks(P.flag(waiting, "waiting"))


@router.post("/callbacks/{token}/success", response_model=Answered,
             summary="Answer: the step succeeds with these outputs")
def succeed(token: str, body: Success) -> dict[str, Any]:
    """``outputs``: ``{"name": "value"}`` for every output the step declares; each value is
    text, converted to the output's declared type (a wrong one is refused, 400)."""
    r = callbacks.send_pipeline_execution_step_success(
        CallbackToken=token,
        OutputParameters=[{"Name": k, "Value": v} for k, v in body.outputs.items()])
    return {"token": token, "status": "Succeeded", "run_id": r["PipelineExecutionArn"]}


@router.post("/callbacks/{token}/failure", response_model=Answered,
             summary="Answer: the step fails with this reason")
def fail(token: str, body: Failure) -> dict[str, Any]:
    r = callbacks.send_pipeline_execution_step_failure(CallbackToken=token,
                                                       FailureReason=body.reason)
    return {"token": token, "status": "Failed", "run_id": r["PipelineExecutionArn"]}
