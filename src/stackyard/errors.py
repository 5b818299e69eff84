"""Every public exception, under one root, so callers can catch ``StackyardError``.

The CLI maps ``UsageError`` subclasses to exit code 2 (bad definition, parameter or
reference), everything else to 1.
"""

from __future__ import annotations


class StackyardError(Exception):
    """Root of every error stackyard raises on purpose."""


class UsageError(StackyardError):
    """The caller asked for something invalid; nothing was run or written. CLI exit 2."""


class DefinitionError(UsageError):
    """A pipeline definition is invalid (cycle, duplicate name, unknown reference, ...)."""


class ParameterError(UsageError):
    """A pipeline parameter value is missing, unknown or of the wrong type."""


class NotFoundError(UsageError):
    """A run, pipeline, step or artifact that does not exist was named."""


class ConflictError(UsageError):
    """The request is valid but the thing's current state forbids it (an illegal approval
    transition, an answered callback, a run driven by another process). HTTP 409."""


class IntegrityError(StackyardError):
    """Stored bytes do not match the hash recorded for them: refuse rather than load."""


class StepFailed(StackyardError):
    """Raised inside the engine when a step fails; carries a SageMaker-like error type."""

    def __init__(self, reason: str, error_type: str = "JobError") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
