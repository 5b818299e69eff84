"""Per-step policies: retry (Step Functions' Retry), caching, and pipeline parallelism."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackyard import _home
from stackyard.engine._params import parse_duration
from stackyard.errors import DefinitionError


class StepExceptionType:
    """Failure kinds a ``RetryPolicy`` can name (a ``@step`` may also name exception classes)."""

    ALL = "ALL"                # anything
    JOB_ERROR = "JobError"     # a job's process exited non-zero
    TIMEOUT = "Timeout"        # max_runtime_in_seconds passed; the process group was killed
    KILLED = "Killed"          # the job died from a signal it did not ask for
    INPUT_ERROR = "InputError"  # an input could not be fetched


@dataclass
class RetryPolicy:
    """Retry a failed step: wait ``interval_seconds * backoff_rate**k`` before retry k+1.

    ``max_attempts`` counts retries after the first attempt (as in Step Functions);
    ``expire_after_mins`` stops retrying once that long has passed since the first attempt.
    """

    exception_types: list[Any] = field(default_factory=lambda: [StepExceptionType.ALL])
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int | None = 3
    expire_after_mins: float | None = None

    def __post_init__(self) -> None:
        if self.interval_seconds < 0 or self.backoff_rate < 1:
            raise DefinitionError("RetryPolicy needs interval_seconds >= 0 and backoff_rate >= 1")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise DefinitionError("RetryPolicy.max_attempts must be >= 0")
        if not self.exception_types:
            raise DefinitionError("RetryPolicy.exception_types is empty; use ['ALL']")

    def to_definition(self) -> dict:
        names = [t.__name__ if isinstance(t, type) else str(getattr(t, "value", t))
                 for t in self.exception_types]
        d: dict[str, Any] = {"ExceptionType": names, "IntervalSeconds": self.interval_seconds,
                             "BackoffRate": self.backoff_rate}
        if self.max_attempts is not None:
            d["MaxAttempts"] = self.max_attempts
        if self.expire_after_mins is not None:
            d["ExpireAfterMin"] = self.expire_after_mins
        return d


# SageMaker's two retry classes map onto one local policy.
StepRetryPolicy = RetryPolicy
SageMakerJobStepRetryPolicy = RetryPolicy

@dataclass
class CacheConfig:
    """Reuse a previous run's result of an identical step (same definition, inputs and code)."""

    enable_caching: bool = False
    expire_after: str | None = None

    def __post_init__(self) -> None:
        if self.expire_after is not None:
            parse_duration(self.expire_after)

    def to_definition(self) -> dict:
        d: dict[str, Any] = {"Enabled": bool(self.enable_caching)}
        if self.expire_after:
            d["ExpireAfter"] = self.expire_after
        return d


@dataclass
class ParallelismConfiguration:
    """At most this many steps run at once (default: the CPUs this process may use)."""

    max_parallel_execution_steps: int = field(default_factory=_home.cpu_count)

    def __post_init__(self) -> None:
        if self.max_parallel_execution_steps < 1:
            raise DefinitionError("max_parallel_execution_steps must be >= 1")
