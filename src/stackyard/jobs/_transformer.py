"""Batch transform jobs: ``Transformer`` and ``TransformInput`` from the SageMaker SDK.

``transform()`` inside a pipeline session returns the CreateTransformJob request as step
arguments; otherwise it runs the job now (``stackyard.transform.run_transform_job``: recorded
in the store, resumable by calling again with the same ``job_name``). A literal
``model_name`` is checked when the ``Transformer`` is made, so a Rejected version (or a
model that does not exist) fails before anything runs or is written; it is checked again
when the job runs.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from stackyard._checks import AWS_ONLY, KwargRules, check_number, job_name
from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs._common import count, destination, is_variable
from stackyard.workflow._session import JobArgs, in_pipeline

_TRANSFORMER = KwargRules(frozenset(), AWS_ONLY | {"transform_ami_version"})


def _choice(value: Any, key: str) -> Any:
    from stackyard.transform import check_choice

    return value if value is None or is_variable(value) else check_choice(value, key)


def _filter(value: Any, what: str) -> Any:
    from stackyard.transform import parse_jsonpath

    return value if value is None or is_variable(value) else parse_jsonpath(value, what).expr


def _uri(value: Any) -> Any:
    if isinstance(value, str | Path) and "://" not in str(value):
        return Path(value).expanduser().resolve().as_uri()
    return value


class TransformInput:
    """The input of a transform job (what ``TransformStep(inputs=...)`` takes):
    ``data`` is a local folder or file, a ``file://`` URI, a remote URI or a pipeline
    variable; the other arguments mean what ``Transformer.transform`` says."""

    def __init__(self, data: Any, data_type: Any = "S3Prefix", content_type: Any = None,
                 compression_type: Any = None, split_type: Any = None,
                 input_filter: Any = None, output_filter: Any = None, join_source: Any = None,
                 model_client_config: dict[str, Any] | None = None,
                 batch_data_capture_config: Any = None) -> None:
        if data_type not in ("S3Prefix", None) and not is_variable(data_type):
            raise DefinitionError(f"TransformInput: data_type={data_type!r}: only S3Prefix "
                                  "inputs (a folder, a file, or a remote prefix) are supported")
        if data is None:
            raise DefinitionError("TransformInput needs data= (a folder, file or URI)")
        self.data = data
        self.content_type = content_type
        self.compression_type = _choice(compression_type, "CompressionType")
        self.split_type = _choice(split_type, "SplitType")
        self.input_filter = _filter(input_filter, "input_filter")
        self.output_filter = _filter(output_filter, "output_filter")
        self.join_source = _choice(join_source, "JoinSource")
        if batch_data_capture_config is not None:
            raise DefinitionError("batch_data_capture_config is not supported by stackyard's "
                                  "batch transform yet; monitor the input files instead")
        self.model_client_config = dict(model_client_config or {})

    def to_request(self) -> dict[str, Any]:
        """The ``TransformInput`` and ``DataProcessing`` parts of CreateTransformJob."""
        return {
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                "S3Uri": _uri(self.data)}},
                "ContentType": self.content_type or "text/csv",
                "CompressionType": self.compression_type or "None",
                "SplitType": self.split_type or "None",
            },
            "DataProcessing": {"InputFilter": self.input_filter or "$",
                               "OutputFilter": self.output_filter or "$",
                               "JoinSource": self.join_source or "None"},
        }


class Transformer:
    """Runs a model over files of records: ``model_name`` is a model made with
    ``Model.create()`` or a registered version ``GROUP/VERSION`` (approved; a pending one
    only with ``allow_unapproved=True``, stackyard's own argument, as for endpoints).
    ``instance_count x max_concurrent_transforms`` worker processes share the files;
    ``max_payload`` (MB) bounds a mini-batch; ``strategy`` is ``MultiRecord`` (default) or
    ``SingleRecord``; ``assemble_with`` ``Line`` puts each record's answer on its own line."""

    def __init__(self, model_name: Any, instance_count: Any = 1, instance_type: Any = None,
                 strategy: Any = None, assemble_with: Any = None, output_path: Any = None,
                 output_kms_key: Any = None, accept: Any = None,
                 max_concurrent_transforms: Any = None, max_payload: Any = None,
                 tags: Any = None, env: dict[str, Any] | None = None,
                 base_transform_job_name: str | None = None, sagemaker_session: Any = None,
                 volume_kms_key: Any = None, allow_unapproved: bool = False,
                 **kwargs: Any) -> None:
        _TRANSFORMER.check("Transformer", kwargs)
        self.model_name = model_name
        self.allow_unapproved = bool(allow_unapproved)
        if not is_variable(model_name):
            from stackyard.transform import resolve_model

            resolve_model(model_name, self.allow_unapproved)
        self.instance_count = count(instance_count, "instance_count")
        self.instance_type = instance_type
        self.strategy = _choice(strategy, "BatchStrategy")
        self.assemble_with = _choice(assemble_with, "AssembleWith")
        self.output_path = destination(output_path, "output_path")
        self.accept = accept
        self.max_concurrent_transforms = (None if max_concurrent_transforms is None else
                                          count(max_concurrent_transforms,
                                                "max_concurrent_transforms"))
        self.max_payload = (max_payload if max_payload is None or is_variable(max_payload)
                            else check_number(max_payload, "max_payload (MB)", lo=1, hi=100,
                                              integer=True))
        if env is not None and not isinstance(env, dict):
            raise DefinitionError(f"Transformer env={env!r}: a dict of names to strings")
        self.env = dict(env or {})
        self.base_transform_job_name = base_transform_job_name
        self.sagemaker_session = sagemaker_session
        self.latest_transform_job: dict[str, Any] | None = None

    def transform_request(self, inputs: TransformInput, job_name: str | None = None
                          ) -> dict[str, Any]:
        """The job request in the shape of SageMaker's CreateTransformJob (plus
        ``AllowUnapproved``, stackyard's own)."""
        return {
            "TransformJobName": job_name,
            "ModelName": self.model_name,
            "AllowUnapproved": self.allow_unapproved,
            "BatchStrategy": self.strategy or "MultiRecord",
            "MaxConcurrentTransforms": self.max_concurrent_transforms or 1,
            "MaxPayloadInMB": 6 if self.max_payload is None else self.max_payload,
            "Environment": self.env,
            **inputs.to_request(),
            "TransformOutput": {"S3OutputPath": self.output_path, "Accept": self.accept,
                                "AssembleWith": self.assemble_with or "None"},
            "TransformResources": {"InstanceCount": self.instance_count,
                                   "InstanceType": self.instance_type},
            "ModelClientConfig": inputs.model_client_config,
        }

    def _job_name(self) -> str:
        base = self.base_transform_job_name or (
            "transform-job" if is_variable(self.model_name) else str(self.model_name))
        return job_name(base, f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}")

    def transform(self, data: Any, data_type: Any = "S3Prefix", content_type: Any = None,
                  compression_type: Any = None, split_type: Any = None,
                  job_name: str | None = None, input_filter: Any = None,
                  output_filter: Any = None, join_source: Any = None,
                  experiment_config: Any = None,
                  model_client_config: dict[str, Any] | None = None,
                  batch_data_capture_config: Any = None, wait: bool = True,
                  logs: bool = True) -> Any:
        """In a pipeline session: ``JobArgs("Transform", request)`` for a step. Otherwise
        run the job now and return its properties (``TransformOutput.S3OutputPath``...); a
        ``job_name`` that names a killed or failed job with the same arguments resumes it.
        ``experiment_config`` (SageMaker Experiments) is accepted and ignored."""
        inputs = TransformInput(data, data_type, content_type, compression_type, split_type,
                                input_filter, output_filter, join_source, model_client_config,
                                batch_data_capture_config)
        if in_pipeline(self.sagemaker_session):
            return JobArgs("Transform", self.transform_request(inputs, job_name))
        from stackyard.transform import run_transform_job

        request = self.transform_request(inputs, job_name or self._job_name())
        self.latest_transform_job = run_transform_job(request, print if logs else None)
        return self.latest_transform_job

    def wait(self, logs: bool = True) -> None:
        """SageMaker code calls this after ``transform(wait=False)``; the local job has
        already run to completion, so there is nothing left to wait for."""
        if self.latest_transform_job is None:
            raise UsageError("no transform job to wait for; call transform() first")
