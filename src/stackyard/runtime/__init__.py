"""RUN: one subprocess per job with the SageMaker script-mode contract."""

from stackyard.artifacts import code_hash  # the engine keys its cache on it
from stackyard.runtime._backend import (
    INSTANCE_TYPES,
    resources_for,
    selected,
    use_backend,
    use_recorded,
)
from stackyard.runtime._collect import job_metrics, pack_model, training_outputs
from stackyard.runtime._contract import processing_spec, training_spec
from stackyard.runtime._job import prepare, run, start, stop, wait
from stackyard.runtime._metrics import compile_metrics, parse_log
from stackyard.runtime._process import DriverLock, alive, process_start_time, start_detached
from stackyard.runtime._spec import JobResult, JobSpec

__all__ = [
    "INSTANCE_TYPES",
    "DriverLock",
    "JobResult",
    "JobSpec",
    "alive",
    "code_hash",
    "compile_metrics",
    "job_metrics",
    "pack_model",
    "parse_log",
    "prepare",
    "process_start_time",
    "processing_spec",
    "resources_for",
    "run",
    "selected",
    "start",
    "start_detached",
    "stop",
    "training_outputs",
    "training_spec",
    "use_backend",
    "use_recorded",
    "wait",
]
