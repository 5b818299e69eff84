"""EXECUTE: validate definitions and run them durably, step by step."""

from stackyard.engine._api import (
    describe_pipeline,
    describe_run,
    list_pipelines,
    list_runs,
    register_pipeline,
    resume_run,
    start_run,
    step_logs,
    step_result,
    stop_run,
)
from stackyard.engine._definition import compile_definition

__all__ = [
    "compile_definition",
    "describe_pipeline",
    "describe_run",
    "list_pipelines",
    "list_runs",
    "register_pipeline",
    "resume_run",
    "start_run",
    "step_logs",
    "step_result",
    "stop_run",
]
