"""The errors of the Amazon States Language: runtime errors by AWS's names, and refusals
of a definition at create time.

A runtime error is data (an error name and a cause), because Retry and Catch match on the
name and a caught error becomes the input of the next state as ``{"Error", "Cause"}``.
Where AWS prefixes a cause with the state and the event that entered it
("An error occurred while executing the state 'X' (entered at the event id #2). ..."),
the pure functions only know the detail; ``StatesError.located`` adds the prefix once the
driver knows the state's name and event id.
"""

from __future__ import annotations

from stackyard.errors import DefinitionError as _StackyardDefinitionError
from stackyard.errors import StackyardError

# --- AWS's predefined error names (the States Language's Appendix A, plus the service's) --
ALL = "States.ALL"
BRANCH_FAILED = "States.BranchFailed"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
ITEM_READER_FAILED = "States.ItemReaderFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
PERMISSIONS = "States.Permissions"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"

# Names an ``ErrorEquals`` may use; any other name starting "States." is refused.
PREDEFINED = frozenset({
    ALL, BRANCH_FAILED, DATA_LIMIT_EXCEEDED, EXCEED_TOLERATED_FAILURE_THRESHOLD,
    HEARTBEAT_TIMEOUT, INTRINSIC_FAILURE, ITEM_READER_FAILED, NO_CHOICE_MATCHED,
    PARAMETER_PATH_FAILURE, PERMISSIONS, RESULT_PATH_MATCH_FAILURE, RESULT_WRITER_FAILED,
    RUNTIME, TASK_FAILED, TIMEOUT, QUERY_EVALUATION_ERROR, "States.Http.Socket",
})

# Terminal errors: no Retry or Catch sees them, not even States.ALL (AWS's error-handling
# page: "States.ALL ... can't catch the States.DataLimitExceeded terminal error and
# Runtime error types"). They end the execution.
UNCATCHABLE = frozenset({DATA_LIMIT_EXCEEDED, RUNTIME})


class StatesError(StackyardError):
    """A runtime error of a state: ``error`` is the name Retry/Catch match on, ``cause``
    the human-readable text AWS reports beside it."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause

    def located(self, state: str, event_id: int) -> StatesError:
        """This error with AWS's prefix naming the state and the event that entered it, as
        AWS reports path and intrinsic failures (``States.Runtime`` and
        ``States.IntrinsicFailure``); other errors keep their cause as it is."""
        if self.error not in (RUNTIME, INTRINSIC_FAILURE) or self.cause.startswith(
                "An error occurred while executing the state"):
            return self
        return StatesError(self.error, f"An error occurred while executing the state "
                                       f"'{state}' (entered at the event id #{event_id}). "
                                       f"{self.cause}")

    def as_output(self) -> dict[str, str]:
        """The error as a caught error's output (``{"Error": ..., "Cause": ...}``)."""
        return {"Error": self.error, "Cause": self.cause}


class DefinitionError(_StackyardDefinitionError):
    """A state machine definition that ``CreateStateMachine`` would refuse (CLI exit 2).

    The message names the state and the field, in AWS's shape
    ("Invalid State Machine Definition: 'CODE: what at /States/Name/Field'"), and the
    parts are kept as attributes so callers and tests need not parse it.
    """

    def __init__(self, code: str, message: str, *, state: str | None = None,
                 field: str | None = None, pointer: str = "") -> None:
        self.code = code
        self.state = state
        self.field = field
        self.pointer = pointer
        where = f" at {pointer}" if pointer else ""
        named = ""
        if state is not None or field is not None:
            named = " (" + ", ".join(
                p for p in (f"state {state!r}" if state is not None else "",
                            f"field {field!r}" if field is not None else "") if p) + ")"
        super().__init__(f"Invalid State Machine Definition: '{code}: {message}{where}'{named}")
