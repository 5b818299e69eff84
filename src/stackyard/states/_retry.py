"""Retry and Catch rules (work in progress: signatures first)."""

from __future__ import annotations


def retry_delay(state: dict, error: str, attempt_by_retrier: list[int]) -> float | None:
    """Seconds before the next attempt, or None when no retrier applies any more."""
    raise NotImplementedError


def catcher_for(state: dict, error: str) -> dict | None:
    """The first catcher that matches ``error``."""
    raise NotImplementedError
