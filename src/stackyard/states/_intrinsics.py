"""The intrinsic functions (work in progress: signature first)."""

from __future__ import annotations

from typing import Any


def evaluate(expr: str, data: Any, ctx: dict) -> Any:
    """The value of the intrinsic call ``expr``."""
    raise NotImplementedError
