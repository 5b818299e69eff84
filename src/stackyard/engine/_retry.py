"""Retry and cache decisions: pure functions, so they are easy to test and reason about."""

from __future__ import annotations

from typing import Any


def matches(policy: dict[str, Any], error_types: list[str]) -> bool:
    wanted = set(policy.get("ExceptionType", ["ALL"]))
    return bool({"ALL", "States.ALL"} & wanted) or bool(wanted & set(error_types))


def next_retry_delay(
    policies: list[dict[str, Any]],
    error_types: list[str],
    retries_done: int,
    first_start: float,
    now: float,
) -> float | None:
    """Seconds to wait before the next attempt, or None when the step has finally failed.

    The first matching policy decides (as Step Functions' Retry list does).
    """
    for p in policies:
        if not matches(p, error_types):
            continue
        max_retries = p.get("MaxAttempts")
        if max_retries is not None and retries_done >= max_retries:
            return None
        delay = float(p.get("IntervalSeconds", 1.0)) * float(p.get("BackoffRate", 2.0)) ** (
            retries_done)
        expire = p.get("ExpireAfterMin")
        if expire is not None and (now + delay - first_start) > float(expire) * 60:
            return None
        return delay
    return None


def cache_key(step_definition: dict[str, Any], resolved: Any, content: dict[str, str]) -> str:
    """The step definition, its resolved arguments, and the content hashes of its inputs
    and code: if all match an earlier run's step, its outputs can be reused."""
    from stackyard.artifacts import json_digest

    return json_digest({"step": {k: v for k, v in step_definition.items()
                                 if k not in ("DisplayName", "Description", "CacheConfig",
                                              "RetryPolicies", "OnFailure", "DependsOn")},
                        "resolved": resolved, "content": content})
