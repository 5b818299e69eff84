"""RUN: one subprocess per job with the SageMaker script-mode contract."""

from stackyard.runtime._collect import job_metrics, pack_model, training_outputs
from stackyard.runtime._contract import processing_spec, training_spec
from stackyard.runtime._job import (
    alive,
    code_hash,
    prepare,
    process_start_time,
    run,
    start,
    stop,
    wait,
)
from stackyard.runtime._metrics import parse_log
from stackyard.runtime._spec import JobResult, JobSpec

__all__ = [
    "JobResult",
    "JobSpec",
    "alive",
    "code_hash",
    "job_metrics",
    "pack_model",
    "parse_log",
    "prepare",
    "process_start_time",
    "processing_spec",
    "run",
    "start",
    "stop",
    "training_outputs",
    "training_spec",
    "wait",
]
