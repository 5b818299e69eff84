"""Step Functions state machines and their executions (``stackyard.states``), with the
Step Functions API's field names: list, describe, create, update; start, list, describe an
execution, its event history, stop, resume; answer a ``.waitForTaskToken`` task.

An execution is addressed by its machine and its name (its ARN is
``arn:aws:states:…:execution:MACHINE:NAME``). Starting and resuming drive the execution in
a process of its own, so it outlives the request and the server.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from stackyard import states
from stackyard.server import _params as P

router = APIRouter(tags=["state machines"])
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class Machine(P.Open):
    stateMachineArn: str
    name: str
    version: int


class MachineDetail(Machine):
    definition: str
    creationDate: str
    updateDate: str
    status: str


class NewMachine(P.Body):
    name: str
    definition: dict[str, Any] | str = Field(
        description="The ASL definition: a JSON object, or its text")


class NewDefinition(P.Body):
    definition: dict[str, Any] | str


class Saved(P.Open):
    stateMachineArn: str
    name: str
    version: int


class Start(P.Body):
    input: Any = Field(default=None, description="The execution's input (any JSON value)")
    name: str | None = Field(default=None, description="A unique execution name (default: "
                                                       "a UUID)")


class Started(P.Open):
    executionArn: str
    startDate: str


class ExecutionSummary(P.Open):
    executionArn: str
    stateMachineArn: str
    name: str
    status: str
    startDate: str


class Execution(ExecutionSummary):
    input: str


class HistoryEvent(P.Open):
    id: int
    previousEventId: int | None
    timestamp: str
    type: str


class Stop(P.Body):
    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=32768)


class Status(P.Open):
    executionArn: str
    status: str


class TaskSuccess(P.Body):
    token: str
    output: Any = Field(description="The task's result (any JSON value)")


class TaskFailure(P.Body):
    token: str
    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=32768)


class TaskToken(P.Body):
    token: str


class Answered(P.Open):
    token: str
    status: str


def _arn(machine: str, execution: str) -> str:
    from stackyard.states._executor import execution_arn

    return execution_arn(P.name("state machine", machine), P.name("execution", execution))


@router.get("/state-machines", response_model=list[Machine], summary="State machines")
def list_machines() -> list[dict[str, Any]]:
    return states.list_state_machines()


@router.get("/state-machines/{name}", response_model=MachineDetail,
            summary="A state machine with its newest definition (ASL text)")
def describe_machine(name: str) -> dict[str, Any]:
    return states.describe_state_machine(P.name("state machine", name))


@router.post("/state-machines", response_model=Saved, status_code=201,
             summary="Create a state machine (refused if the name has another definition)")
def create_machine(body: NewMachine) -> dict[str, Any]:
    """The definition is validated as ``CreateStateMachine`` does; an invalid one is a 400
    naming the problem. Creating it again with the same definition changes nothing."""
    return states.create_state_machine(P.name("state machine", body.name), body.definition,
                                       update=False)


@router.put("/state-machines/{name}", response_model=Saved,
            summary="Give a state machine a new definition (a new version)")
def update_machine(name: str, body: NewDefinition) -> dict[str, Any]:
    states.describe_state_machine(P.name("state machine", name))   # unknown: 404
    return states.create_state_machine(name, body.definition, update=True)


@router.post("/state-machines/{name}/executions", response_model=Started, status_code=202,
             summary="Start an execution (it runs in a process of its own)")
def start(name: str, body: Start | None = None) -> dict[str, Any]:
    body = body or Start()
    return states.start_execution(P.name("state machine", name), body.input, body.name,
                                  wait=False)


@router.get("/state-machines/{name}/executions", response_model=list[ExecutionSummary],
            summary="Executions of a state machine, newest first")
def list_executions(name: str, status: str | None = None,
                    limit: str | None = None) -> list[dict[str, Any]]:
    """``status``: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED; ``limit`` 1..1000
    (default 100)."""
    return states.list_executions(P.name("state machine", name),
                                  P.choice(status, "status", STATUSES), P.limit(limit, 100))


@router.get("/state-machines/{name}/executions/{execution}", response_model=Execution,
            summary="DescribeExecution: status, input, output, error and cause")
def describe_execution(name: str, execution: str) -> dict[str, Any]:
    return states.describe_execution(_arn(name, execution))


@router.get("/state-machines/{name}/executions/{execution}/history",
            response_model=list[HistoryEvent],
            summary="GetExecutionHistory: every event, oldest first")
def history(name: str, execution: str) -> list[dict[str, Any]]:
    return states.get_execution_history(_arn(name, execution))


@router.post("/state-machines/{name}/executions/{execution}/stop", response_model=Status,
             summary="StopExecution: abort it (its running jobs are stopped)")
def stop(name: str, execution: str, body: Stop | None = None) -> dict[str, Any]:
    body = body or Stop()
    arn = _arn(name, execution)
    return {"executionArn": arn, "status": states.stop_execution(arn, body.error, body.cause)}


@router.post("/state-machines/{name}/executions/{execution}/resume", response_model=Status,
             status_code=202,
             summary="Carry on an execution whose driver died (or that was aborted)")
def resume(name: str, execution: str) -> dict[str, Any]:
    """Finished states are kept; the execution is driven on in a process of its own. An
    execution that succeeded, failed or timed out, or that a live process drives: 409."""
    arn = _arn(name, execution)
    states.resume_detached(arn)
    return {"executionArn": arn, "status": "RUNNING"}


# ---- task tokens (.waitForTaskToken) -------------------------------------------------
@router.post("/task-tokens/success", response_model=Answered,
             summary="SendTaskSuccess: the waiting task succeeds with this output")
def task_success(body: TaskSuccess) -> dict[str, Any]:
    states.send_task_success(body.token, json.dumps(body.output))  # a JSON string stays one
    return {"token": body.token, "status": "SUCCEEDED"}


@router.post("/task-tokens/failure", response_model=Answered,
             summary="SendTaskFailure: the waiting task fails (Retry and Catch see it)")
def task_failure(body: TaskFailure) -> dict[str, Any]:
    states.send_task_failure(body.token, body.error, body.cause)
    return {"token": body.token, "status": "FAILED"}


@router.post("/task-tokens/heartbeat", response_model=Answered,
             summary="SendTaskHeartbeat: the task's HeartbeatSeconds start again")
def task_heartbeat(body: TaskToken) -> dict[str, Any]:
    states.send_task_heartbeat(body.token)
    return {"token": body.token, "status": "WAITING"}
