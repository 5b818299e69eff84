"""The public operations on state machines and executions, with the Step Functions API's
names and shapes: ``StateMachine.create(name, definition)``, ``.start_execution(input)``,
``describe_execution``, ``get_execution_history``, ``send_task_success`` ...

No server: whichever process starts or resumes an execution drives it, and the store plus
the execution lock make that safe across processes. A definition is validated (as
``CreateStateMachine`` does) before anything is written.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackyard._checks import check_name
from stackyard.errors import ConflictError, NotFoundError, StackyardError, UsageError
from stackyard.states._errors import DATA_LIMIT_EXCEEDED
from stackyard.states._executor import (
    FINAL,
    MAX_PAYLOAD,
    Driver,
    ExecutionLock,
    drive_detached,
    driver_alive,
    dump,
    execution_arn,
    execution_dir,
    iso,
    machine_arn,
)
from stackyard.states._tasks import supported_resource
from stackyard.store import open_store

DEAD_GRACE = 0.5    # seconds a driver must look dead before a waiter resumes the execution
MAX_RESUMES = 3     # detached drivers one wait() starts before it gives up


def _store():
    return open_store()


def parse_definition(definition: str | dict[str, Any]) -> dict[str, Any]:
    """A definition validated as ``CreateStateMachine`` does (``DefinitionError``)."""
    from stackyard.states._validate import validate

    return validate(definition, supported_resource=supported_resource)


def _digest(definition: dict[str, Any]) -> str:
    from stackyard.artifacts import json_digest

    return json_digest(definition)


def machine_name(ref: str) -> str:
    """A state machine's name from its name or ARN."""
    name = ref.rsplit(":", 1)[-1] if ref.startswith("arn:") else ref
    return check_name(name, "state machine")


def create_state_machine(name: str, definition: str | dict[str, Any],
                         update: bool | None = None) -> dict[str, Any]:
    """Create (``update`` False), update (True) or upsert (None) a state machine; every
    distinct definition becomes a new version. Returns ``{stateMachineArn, version}``."""
    check_name(name, "state machine")
    parsed = parse_definition(definition)
    text = json.dumps(parsed, sort_keys=True)
    version = _store().upsert_state_machine(name, text, _digest(parsed), must_exist=update)
    if version < 0:
        raise UsageError(f"state machine {name!r} does not exist; create it first" if update
                         else f"state machine {name!r} already exists with another "
                              "definition; use update")
    return {"stateMachineArn": machine_arn(name), "name": name, "version": version}


def describe_state_machine(ref: str) -> dict[str, Any]:
    name = machine_name(ref)
    row = _store().get_state_machine(name)
    if row is None:
        raise NotFoundError(f"no state machine {name!r}; see `stackyard states list`")
    return {"stateMachineArn": machine_arn(name), "name": name, "version": row["version"],
            "definition": row["definition"], "creationDate": iso(row["created_at"]),
            "updateDate": iso(row["updated_at"]), "status": "ACTIVE"}


def list_state_machines() -> list[dict[str, Any]]:
    return [{"stateMachineArn": machine_arn(r["name"]), "name": r["name"],
             "version": r["version"], "executions": r["executions"],
             "creationDate": iso(r["created_at"])} for r in _store().list_state_machines()]


def _strict_json(value: Any, error: str, what: str) -> None:
    """Refuse what JSON cannot carry (NaN, Infinity: Python's json reads and writes them,
    AWS and every other reader of the stored text refuse them)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{error}: the {what} is not valid JSON ({e})") from None


def _input_text(value: Any) -> str:
    _strict_json(value, "InvalidExecutionInput", "execution input")
    text = dump(value)
    if len(text.encode()) > MAX_PAYLOAD:
        raise UsageError(f"{DATA_LIMIT_EXCEEDED}: the execution input is "
                         f"{len(text.encode())} bytes; the limit is {MAX_PAYLOAD} bytes")
    return text


def create_execution(machine: str, value: Any = None, name: str | None = None,
                     parent: str | None = None) -> str:
    """Record a new execution of the machine's newest version (not run yet); an existing
    execution of that name and input is returned as it is (StartExecution is idempotent),
    one with another input refused. Returns its ARN."""
    machine = machine_name(machine)
    row = _store().get_state_machine(machine)
    if row is None:
        raise NotFoundError(f"no state machine {machine!r}; create it with `stackyard "
                            "states create`")
    name = check_name(name or str(uuid.uuid4()), "execution")
    text = _input_text({} if value is None else value)
    arn = execution_arn(machine, name)
    definition = json.loads(row["definition"])
    created = _store().create_execution(
        {"arn": arn, "machine": machine, "name": name, "version": row["version"],
         "definition": row["definition"], "input": text, "parent": parent,
         "start_time": time.time()},
        definition["StartAt"], {"input": text, "inputDetails": {"truncated": False},
                                "roleArn": "arn:aws:iam::000000000000:role/stackyard",
                                "stateMachineArn": machine_arn(machine)})
    if not created:
        old = _store().get_execution(arn)
        same = old is not None and (old["parent"] == parent if parent else (
            old["input"] == text and old["status"] == "RUNNING"))
        if not same:   # a resumed parent finds its own child again; a user gets the error
            raise UsageError(f"ExecutionAlreadyExists: execution {name!r} of {machine!r} "
                             "already exists; give another --name")
    return arn


def run_execution(arn: str, on_event: Callable[[dict[str, Any]], None] | None = None) -> str:
    """Drive an execution here until it ends; its final status."""
    return Driver(arn, on_event=on_event).run()


def start_execution(machine: str, value: Any = None, name: str | None = None,
                    wait: bool = True,
                    on_event: Callable[[dict[str, Any]], None] | None = None
                    ) -> dict[str, Any]:
    """StartExecution: record the execution, then drive it here (``wait``) or in a
    process of its own. Returns ``{executionArn, startDate}``."""
    arn = create_execution(machine, value, name)
    if wait:
        run_execution(arn, on_event)
    else:
        drive_detached(arn)
    row = _execution(arn)
    return {"executionArn": arn, "startDate": iso(row["start_time"])}


def _execution(arn: str) -> dict[str, Any]:
    row = _store().get_execution(arn)
    if row is None:
        raise NotFoundError(f"no execution {arn!r}; see `stackyard states executions NAME`")
    return row


def describe_execution(arn: str) -> dict[str, Any]:
    """DescribeExecution's fields."""
    row = _execution(arn)
    out = {"executionArn": arn, "stateMachineArn": machine_arn(row["machine"]),
           "name": row["name"], "status": row["status"], "startDate": iso(row["start_time"]),
           "stopDate": iso(row["stop_time"]) if row["stop_time"] else None,
           "input": row["input"], "inputDetails": {"included": True},
           "output": row["output"], "outputDetails": {"included": True},
           "error": row["error"], "cause": row["cause"],
           "stateMachineVersion": row["version"]}
    if row["parent"]:
        out["parentExecutionArn"] = row["parent"]
    if row["status"] == "RUNNING":   # not AWS's: here a driver process can die
        out["driver"] = "alive" if driver_alive(arn) else "dead"
    if row["status"] != "SUCCEEDED":
        out.pop("output")
        out.pop("outputDetails")
    return {k: v for k, v in out.items() if v is not None}


def _camel(kind: str) -> str:
    if kind.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if kind.endswith("StateExited"):
        return "stateExitedEventDetails"
    return kind[0].lower() + kind[1:] + "EventDetails"


def get_execution_history(arn: str) -> list[dict[str, Any]]:
    """GetExecutionHistory's events: ``id``, ``previousEventId``, ``timestamp``, ``type``
    and the ``<type>EventDetails`` of each."""
    _execution(arn)
    out = []
    for e in _store().get_history(arn):
        event: dict[str, Any] = {"timestamp": iso(e["ts"]), "type": e["type"], "id": e["id"],
                                 "previousEventId": e["previous_id"]}
        if e["details"] is not None:
            event[_camel(e["type"])] = e["details"]
        out.append(event)
    return out


def list_executions(machine: str | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
    if status is not None and status not in (*FINAL, "RUNNING"):
        raise UsageError(f"status {status!r}: one of RUNNING, {', '.join(FINAL)}")
    name = machine_name(machine) if machine else None
    if name is not None and _store().get_state_machine(name) is None:
        raise NotFoundError(f"no state machine {name!r}; see `stackyard states list`")
    return [{"executionArn": r["arn"], "stateMachineArn": machine_arn(r["machine"]),
             "name": r["name"], "status": r["status"], "startDate": iso(r["start_time"]),
             **({"stopDate": iso(r["stop_time"])} if r["stop_time"] else {})}
            for r in _store().list_executions(name, status, limit)]


def stop_execution(arn: str, error: str | None = None, cause: str | None = None) -> str:
    """StopExecution: the driver aborts it; with no live driver, it is aborted here and
    its running task jobs are stopped."""
    from stackyard import runtime

    row = _execution(arn)
    if row["status"] in FINAL:
        return str(row["status"])
    store = _store()
    store.request_stop_execution(arn, error, cause)
    if driver_alive(arn):
        return "ABORTING"
    try:
        with ExecutionLock(arn):
            row = _execution(arn)
            if row["status"] in FINAL:   # it ended while we looked
                return str(row["status"])
            for pidfile in (execution_dir(arn) / "tasks").glob("**/launcher.pid"):
                if not (pidfile.parent / "exit.json").exists():
                    pid, started = pidfile.read_text().split()
                    runtime.stop(int(pid), started)
            store.transition(arn, [("", "ExecutionAborted", {k: v for k, v in (
                ("error", error), ("cause", cause)) if v is not None})],
                {"": {"status": "ABORTED"}}, {"status": "ABORTED", "stop_time": time.time()})
    except UsageError:               # a driver took it meanwhile: it sees the request
        return "ABORTING"
    for child in store.list_executions(None, "RUNNING", 1_000_000):
        if child["parent"] == arn:
            stop_execution(child["arn"], "States.Aborted", "the parent execution was stopped")
    return "ABORTED"


def resume_execution(arn: str, on_event: Callable[[dict[str, Any]], None] | None = None
                     ) -> str:
    """Carry on an execution whose driver died (or that was stopped): finished states are
    kept, the running ones adopted or rerun. A finished execution is left as it is."""
    _execution(arn)
    return Driver(arn, on_event=on_event).run(reopen=True)


def resume_detached(arn: str) -> None:
    """``resume_execution`` in a process of its own (what the HTTP API's resume starts).
    Refused (``ConflictError``) for an execution that ended, or that a live process drives."""
    status = _execution(arn)["status"]
    if status in ("SUCCEEDED", "FAILED", "TIMED_OUT"):
        raise ConflictError(f"execution {arn} is {status}; resume applies to one that is "
                            "RUNNING or ABORTED")
    deadline = time.monotonic() + 5  # a driver that was just stopped may still be exiting
    while driver_alive(arn):
        if time.monotonic() > deadline:
            raise ConflictError(f"execution {arn} is being driven by a live process")
        time.sleep(0.1)
    drive_detached(arn, reopen=True)


# ---- task tokens -------------------------------------------------------------------
def _token(token: Any) -> dict[str, Any]:
    if not isinstance(token, str) or not token or not token.isascii() or len(token) > 1024:
        raise NotFoundError(f"TaskDoesNotExist: task token {str(token)[:40]!r} is not a "
                            "token")
    row = _store().get_token(token)
    if row is None:
        raise NotFoundError(f"TaskDoesNotExist: no task waits for token {token[:40]!r}")
    if row["status"] != "WAITING":
        raise ConflictError(f"TaskTimedOut: the task of token {token[:40]!r} is no longer "
                            f"waiting ({row['status']}); an answer counts once")
    return row


def _answer(token: str, status: str, **fields: Any) -> None:
    if not _store().answer_token(token, status, **fields):
        raise ConflictError(f"TaskTimedOut: the task of token {token[:40]!r} is no longer "
                            "waiting")


def send_task_success(token: str, output: Any) -> None:
    """SendTaskSuccess: ``output`` (JSON text or a value) becomes the task's result."""
    _token(token)
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            raise UsageError("InvalidOutput: the output is not valid JSON") from None
    _strict_json(output, "InvalidOutput", "output")
    if len(dump(output).encode()) > MAX_PAYLOAD:
        raise UsageError(f"InvalidOutput: the output is over {MAX_PAYLOAD} bytes")
    _answer(token, "SUCCEEDED", output=output)


def send_task_failure(token: str, error: str | None = None, cause: str | None = None) -> None:
    """SendTaskFailure: the task fails with ``error`` and ``cause`` (Retry/Catch see it)."""
    _token(token)
    _answer(token, "FAILED", error=error or "", cause=cause or "")


def send_task_heartbeat(token: str) -> None:
    """SendTaskHeartbeat: the task's HeartbeatSeconds start again."""
    _token(token)
    _answer(token, "HEARTBEAT")


class StateMachine:
    """A state machine by name (boto3's ``stepfunctions`` client, folded into objects)."""

    def __init__(self, name: str) -> None:
        self.name = machine_name(name)
        self.arn = machine_arn(self.name)

    @classmethod
    def create(cls, name: str, definition: str | dict[str, Any] | Path) -> StateMachine:
        """Create or update ``name`` with ``definition`` (JSON text, a dict, or a file)."""
        if isinstance(definition, Path):
            definition = definition.read_text()
        create_state_machine(name, definition)
        return cls(name)

    def update(self, definition: str | dict[str, Any]) -> dict[str, Any]:
        return create_state_machine(self.name, definition, update=True)

    def describe(self) -> dict[str, Any]:
        return describe_state_machine(self.name)

    def start_execution(self, input: Any = None, name: str | None = None,
                        wait: bool = True) -> Execution:
        """Start an execution; with ``wait`` it runs here to its end first."""
        return Execution(start_execution(self.name, input, name, wait)["executionArn"])

    def list_executions(self, status: str | None = None) -> list[dict[str, Any]]:
        return list_executions(self.name, status)


class Execution:
    """One execution by ARN."""

    def __init__(self, arn: str) -> None:
        self.arn = arn

    def describe(self) -> dict[str, Any]:
        return describe_execution(self.arn)

    def history(self) -> list[dict[str, Any]]:
        return get_execution_history(self.arn)

    def output(self) -> Any:
        d = self.describe()
        return json.loads(d["output"]) if d.get("output") is not None else None

    def stop(self, error: str | None = None, cause: str | None = None) -> str:
        return stop_execution(self.arn, error, cause)

    def wait(self, timeout: float | None = None) -> str:
        """Poll until the execution ends (driven elsewhere); its status. AWS never loses
        an execution, so when its driver process has died (kill -9, a reboot) the
        execution is resumed in a new detached driver, as `stackyard states resume`
        would; if drivers keep dying, ``StackyardError`` names the driver's log."""
        end = None if timeout is None else time.monotonic() + timeout
        dead_since: float | None = None
        resumed = 0
        while True:
            status = str(_execution(self.arn)["status"])
            if status != "RUNNING" or (end is not None and time.monotonic() > end):
                return status
            if driver_alive(self.arn):
                dead_since = None
            elif dead_since is None:
                dead_since = time.monotonic()
            elif time.monotonic() - dead_since >= DEAD_GRACE:
                if resumed == MAX_RESUMES:
                    log = execution_dir(self.arn) / "driver.log"
                    raise StackyardError(
                        f"execution {self.arn}: its driver died {resumed + 1} times (see "
                        f"{log}); run `stackyard states resume {self.arn}` to drive it in "
                        "the foreground")
                drive_detached(self.arn)
                resumed += 1
                dead_since = None
            time.sleep(0.1)
