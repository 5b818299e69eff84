"""The JSONPath dialect of the States Language (work in progress: signatures first)."""

from __future__ import annotations

from typing import Any


def select(path: str, data: Any) -> Any:
    """The value ``path`` selects in ``data``."""
    raise NotImplementedError


def effective_input(state: dict, state_input: Any, ctx: dict) -> Any:
    """InputPath, then Parameters (or a Map's ItemSelector)."""
    raise NotImplementedError


def state_output(state: dict, state_input: Any, result: Any, ctx: dict) -> Any:
    """ResultSelector, ResultPath, OutputPath."""
    raise NotImplementedError
