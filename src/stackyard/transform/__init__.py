"""Batch transform: a model (a created model or a registered version) over files of
records, through the same inference contract as endpoints, in worker processes, durable
per input file.

``run_transform(request, job_dir)`` is the engine of it (what a pipeline's transform step
calls); ``stackyard.jobs.Transformer`` is the SageMaker-named SDK in front of it.
"""

from stackyard.transform._job import (
    TransformError,
    check_choice,
    check_request,
    describe_transform_job,
    resume_transform_job,
    run_transform,
    run_transform_job,
)
from stackyard.transform._jsonpath import JsonPath, RecordError
from stackyard.transform._jsonpath import parse as parse_jsonpath
from stackyard.transform._models import create_model, resolve_model

__all__ = [
    "JsonPath",
    "RecordError",
    "TransformError",
    "check_choice",
    "check_request",
    "create_model",
    "describe_transform_job",
    "parse_jsonpath",
    "resolve_model",
    "resume_transform_job",
    "run_transform",
    "run_transform_job",
]
