"""The engine's ``Callback`` step type (``CallbackStep``); the engine imports it by name.

On start the attempt's token is stored together with its message on the named local queue
(SageMaker's body: ``token``, ``pipelineExecutionArn``, ``arguments``, ``status``), in one
transaction keyed by (run, step, attempt): a runner killed at any moment and resumed finds
the same token and enqueues nothing new. The step then waits on the store, not in memory,
so an answer given while no runner lives is kept and seen on resume. An attempt not
answered within ``Timeout`` seconds (SageMaker's 7 days by default) fails with
``Timeout``, so retry policies and ``on_failure`` apply.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from stackyard._checks import check_number
from stackyard.callbacks._api import check_queue
from stackyard.engine._resolve import resolve
from stackyard.engine.steps import DeclaredOutputsStepType
from stackyard.errors import DefinitionError, StepFailed, UsageError

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef
    from stackyard.engine.steps import Attempt

DEFAULT_TIMEOUT = 7 * 24 * 3600.0
POLL = 0.2   # seconds between looks at the store while waiting


def check_queue_ref(queue: Any) -> None:
    """A queue is text or a pipeline parameter (``{"Get": "Parameters.X"}``)."""
    if isinstance(queue, dict) and set(queue) == {"Get"} and str(
            queue["Get"]).startswith("Parameters."):
        return
    check_queue(queue)


def timeout_of(raw: dict[str, Any]) -> float:
    return float(check_number(raw.get("Timeout", DEFAULT_TIMEOUT),
                              "callback timeout (seconds)", lo=0, lo_open=True))


class CallbackStepType(DeclaredOutputsStepType):
    name = "Callback"
    output_owner = "callback"
    adoptable = True     # a waiting attempt is resumed with its token, not started again
    cacheable = False    # SageMaker does not cache callback steps: the answer is outside

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        try:
            check_queue_ref(step.raw.get("SqsQueueUrl"))
            self.declared_outputs(step)
            timeout_of(step.raw)
        except UsageError as e:
            raise DefinitionError(f"step {step.name!r}: {e}") from None

    def execute(self, a: Attempt, arguments: Any) -> dict[str, Any]:
        queue = resolve(a.step.raw["SqsQueueUrl"], a.context())
        try:
            check_queue(queue)
        except UsageError as e:
            raise StepFailed(str(e), "ValidationError") from None
        token = uuid.uuid4().hex
        row = a.store.open_callback(a.run_id, a.step.name, a.n, {
            "token": token, "queue": queue, "deadline": time.time() + timeout_of(a.step.raw),
            "output_types": self.declared_outputs(a.step),
            "body": {"token": token, "pipelineExecutionArn": a.run_id,
                     "arguments": arguments, "status": "Executing"}})
        token = row["token"]
        if a.on_log is not None and row["created_at"] >= time.time() - 1:
            a.on_log(f"waiting for callback {token} on queue {row['queue']!r}")
        while True:
            row = a.store.get_callback(token)
            assert row is not None
            if row["status"] == "Succeeded":
                return {"OutputParameters": row["outputs"]}
            if row["status"] == "Failed":
                raise StepFailed(row["failure_reason"], "CallbackFailure")
            if row["status"] != "Executing":          # Timeout or Stopped earlier
                raise StepFailed(row["failure_reason"] or row["status"], row["status"])
            if row["deadline"] <= time.time():
                reason = (f"no answer to callback {token} on queue {row['queue']!r} "
                          f"within {timeout_of(a.step.raw):g} s")
                if a.store.answer_callback(token, "Timeout", None, reason)[1]:
                    raise StepFailed(reason, "Timeout")
                continue                              # an answer came just in time
            if a.stopping.wait(POLL):
                a.store.answer_callback(token, "Stopped", None, "stopped by request")
                raise StepFailed("stopped by request while waiting for a callback", "Stopped")
