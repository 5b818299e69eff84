"""The answering side of callback steps, with boto3's names: ``receive_messages`` (SQS
ReceiveMessage), ``send_pipeline_execution_step_success`` / ``_failure`` (SageMaker).

Values arrive as strings, as SageMaker's API carries them, and are converted to each
output's declared type here, so a wrong answer is refused to the one who gave it (a
``UsageError``) instead of failing the pipeline later. An answer that counted wakes its run
if no runner is alive (``_wake``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard._checks import check_number
from stackyard.errors import ConflictError, NotFoundError, UsageError
from stackyard.store import open_store


def check_queue(queue: Any) -> str:
    """A queue is named by any non-empty text without control characters (an SQS URL or a
    plain name); the same text sends and receives."""
    if not isinstance(queue, str) or not queue.strip() or not queue.isprintable():
        raise UsageError(f"callback queue {queue!r}: give a queue name or URL (printable text)")
    return queue


def entry(row: dict[str, Any]) -> dict[str, Any]:
    """One callback as ``list`` and ``receive --json`` show it."""
    return {"token": row["token"], "queue": row["queue"], "run_id": row["run_id"],
            "step": row["step"], "arguments": row["body"]["arguments"],
            "status": row["status"], "created_at": row["created_at"]}


def list_callbacks(waiting_only: bool = False) -> list[dict[str, Any]]:
    """Every callback, newest first (``waiting_only``: those not answered yet)."""
    return [entry(r) for r in open_store().list_callbacks(waiting_only)]


def waiting_steps(run_id: str) -> dict[str, dict[str, Any]]:
    """{step: {"token", "queue"}} for the steps of ``run_id`` waiting for an answer now
    (what ``runs describe`` shows beside their status)."""
    rows = open_store().list_callbacks(waiting_only=True, run_id=run_id)
    return {r["step"]: {"token": r["token"], "queue": r["queue"]} for r in reversed(rows)}


def receive(queue: str, limit: int = 1, wait: float = 0, visibility: float = 30
            ) -> list[dict[str, Any]]:
    """Waiting callbacks of ``queue`` (rows with their ``receipt``), each hidden from other
    receivers for ``visibility`` seconds; polls up to ``wait`` seconds for one."""
    check_queue(queue)
    limit = int(check_number(limit, "MaxNumberOfMessages", lo=1, hi=10, integer=True))
    wait = float(check_number(wait, "WaitTimeSeconds", lo=0, hi=20))
    visibility = float(check_number(visibility, "VisibilityTimeout", lo=0, hi=43200))
    end = time.monotonic() + wait
    while True:
        rows = open_store().receive_callbacks(queue, limit, visibility)
        if rows or time.monotonic() >= end:
            return rows
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))


def receive_messages(QueueUrl: str, MaxNumberOfMessages: int = 1,
                     WaitTimeSeconds: float = 0, VisibilityTimeout: float = 30,
                     ) -> dict[str, Any]:
    """SQS ReceiveMessage on a local queue: ``{"Messages": [{"MessageId", "ReceiptHandle",
    "Body"}]}`` (no ``Messages`` key when none is waiting, as SQS)."""
    rows = receive(QueueUrl, MaxNumberOfMessages, WaitTimeSeconds, VisibilityTimeout)
    out: dict[str, Any] = {"ResponseMetadata": {"HTTPStatusCode": 200}}
    if rows:
        out["Messages"] = [{"MessageId": r["token"], "ReceiptHandle": r["receipt"],
                            "Body": json.dumps(r["body"])} for r in rows]
    return out


def convert(name: str, value: Any, kind: str) -> Any:
    """An answered value (text) as an output of ``kind``; anything else is refused."""
    if not isinstance(value, str):
        raise UsageError(f"output {name!r}: values are given as text; got {value!r}")
    if kind == "String":
        return value
    if kind == "Boolean":
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    else:
        try:
            number = check_number(value.strip(), f"output {name!r}", integer=kind == "Integer")
            return float(number) if kind == "Float" else number
        except UsageError:
            pass
    raise UsageError(f"output {name!r} is declared {kind}; {value!r} is not "
                     f"{'an' if kind[0] in 'IA' else 'a'} {kind}")


def _waiting(token: Any) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise UsageError(f"CallbackToken {token!r}: give a token from `stackyard callback "
                         "list` or a received message")
    row = open_store().get_callback(token)
    if row is None:
        raise NotFoundError(f"callback token {token!r} is unknown; see `stackyard callback "
                            "list`")
    _refuse_answered(row)
    return row


def _refuse_answered(row: dict[str, Any]) -> None:
    if row["status"] == "Timeout" or (row["status"] == "Executing"
                                      and row["deadline"] <= time.time()):
        raise ConflictError(f"callback token {row['token']!r} has expired (its step's "
                            "timeout passed)")
    if row["status"] != "Executing":
        raise ConflictError(f"callback token {row['token']!r} was already answered "
                            f"({row['status']}); an answer counts once")


def _answer(row: dict[str, Any], status: str, outputs: dict[str, Any] | None,
            reason: str | None) -> None:
    before, counted = open_store().answer_callback(row["token"], status, outputs, reason)
    if not counted:   # another answer or the timeout came in between
        assert before is not None
        _refuse_answered(open_store().get_callback(row["token"]) or before)
        raise UsageError(f"callback token {row['token']!r} can no longer be answered")
    from stackyard.callbacks._wake import wake  # filelock and the engine: only answers need

    wake(row["run_id"], row["token"])


def send_pipeline_execution_step_success(CallbackToken: str,
                                         OutputParameters: list[dict[str, Any]] | None = None,
                                         ) -> dict[str, Any]:
    """Answer a callback: the step succeeds with these outputs (every declared one, each
    converted to its declared type)."""
    row = _waiting(CallbackToken)
    declared: dict[str, str] = row["output_types"]
    given: dict[str, Any] = {}
    for p in OutputParameters or []:
        if not isinstance(p, dict) or set(p) != {"Name", "Value"}:
            raise UsageError(f"OutputParameters entry {p!r}: write {{'Name': ..., "
                             "'Value': ...}")
        name = p["Name"]
        if name not in declared:
            raise UsageError(f"output {name!r} is not declared by step {row['step']!r} "
                             f"(outputs: {', '.join(sorted(declared)) or 'none'})")
        if name in given:
            raise UsageError(f"output {name!r} is given twice")
        given[name] = convert(name, p["Value"], declared[name])
    missing = sorted(set(declared) - set(given))
    if missing:
        raise UsageError(f"step {row['step']!r} declares output(s) "
                         f"{', '.join(map(repr, missing))}; give a value for each")
    _answer(row, "Succeeded", given, None)
    return {"PipelineExecutionArn": row["run_id"]}


def send_pipeline_execution_step_failure(CallbackToken: str,
                                         FailureReason: str | None = None,
                                         ) -> dict[str, Any]:
    """Answer a callback: the step fails with ``FailureReason``."""
    row = _waiting(CallbackToken)
    reason = str(FailureReason or "the callback was answered with a failure")
    _answer(row, "Failed", None, reason)
    return {"PipelineExecutionArn": row["run_id"]}
