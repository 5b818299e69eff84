"""EXECUTE: validate definitions and run them durably, step by step.

The names below load on first use, so the modules of the engine that the SDK needs
(parameter coercion, a function's code hash) come without the store and the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackyard.engine._api import (
        continue_run,
        count_runs,
        describe_pipeline,
        describe_run,
        list_pipelines,
        list_runs,
        register_pipeline,
        resume_detached,
        resume_run,
        start_run,
        step_logs,
        step_result,
        stop_run,
    )
    from stackyard.engine._definition import compile_definition

__all__ = [
    "compile_definition",
    "continue_run",
    "count_runs",
    "describe_pipeline",
    "describe_run",
    "list_pipelines",
    "list_runs",
    "register_pipeline",
    "resume_detached",
    "resume_run",
    "start_run",
    "step_logs",
    "step_result",
    "stop_run",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "_definition" if name == "compile_definition" else "_api"
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
