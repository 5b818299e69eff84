"""``Model``: a trained artifact plus the code that serves it; ``register()`` puts it in
the model registry (now, or as a pipeline step's arguments)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from stackyard._checks import AWS_ONLY, KwargRules
from stackyard.workflow._register import code_paths, package_request
from stackyard.workflow._session import JobArgs, in_pipeline

# Keywords accepted and ignored (AWS-only); any other unknown keyword is a TypeError.
_MODEL = KwargRules(frozenset(), AWS_ONLY | {"predictor_cls", "model_kms_key"})
_REGISTER = KwargRules(frozenset(), frozenset({
    "model_package_name", "marketplace_cert", "domain", "task",
    "framework", "framework_version", "nearest_model_name", "data_input_configuration",
    "skip_model_validation", "model_card"}))
# deploy(): what stackyard acts on (``port``/``max_concurrency`` are stackyard's own), and
# SageMaker's AWS-only options.
DEPLOY = KwargRules(
    frozenset({"port", "max_concurrency", "wait"}),
    AWS_ONLY | {"model_name", "serverless_inference_config",
                "container_startup_health_check_timeout", "model_data_download_timeout"})


class MetricsSource:
    """A report (statistics, constraints...) at a URI; SageMaker's ``FileSource`` has the
    same shape and is accepted wherever a ``MetricsSource`` is."""

    def __init__(self, content_type: str, s3_uri: Any, content_digest: str | None = None
                 ) -> None:
        self.content_type = content_type
        self.s3_uri = s3_uri

    def to_request(self) -> dict[str, Any]:
        return {"ContentType": self.content_type, "S3Uri": self.s3_uri}


def _section(**kinds: MetricsSource | None) -> dict[str, Any]:
    return {k: v.to_request() for k, v in kinds.items() if v is not None}


class ModelMetrics:
    """Evaluation reports recorded with a model version (e.g. the evaluation.json a
    pipeline step wrote as ``model_statistics``)."""

    def __init__(self, model_statistics: MetricsSource | None = None,
                 model_constraints: MetricsSource | None = None,
                 model_data_statistics: MetricsSource | None = None,
                 model_data_constraints: MetricsSource | None = None,
                 bias: MetricsSource | None = None,
                 explainability: MetricsSource | None = None) -> None:
        self.sections = {
            "ModelQuality": _section(Statistics=model_statistics, Constraints=model_constraints),
            "ModelDataQuality": _section(Statistics=model_data_statistics,
                                         Constraints=model_data_constraints),
            "Bias": _section(Report=bias),
            "Explainability": _section(Report=explainability),
        }

    def to_request(self) -> dict[str, Any]:
        return {k: v for k, v in self.sections.items() if v}


class DriftCheckBaselines:
    """The baselines a later monitor compares new data against (statistics/constraints)."""

    def __init__(self, model_statistics: MetricsSource | None = None,
                 model_constraints: MetricsSource | None = None,
                 model_data_statistics: MetricsSource | None = None,
                 model_data_constraints: MetricsSource | None = None,
                 bias_config_file: MetricsSource | None = None,
                 bias_pre_training_constraints: MetricsSource | None = None,
                 bias_post_training_constraints: MetricsSource | None = None,
                 explainability_constraints: MetricsSource | None = None,
                 explainability_config_file: MetricsSource | None = None) -> None:
        self.sections = {
            "ModelQuality": _section(Statistics=model_statistics, Constraints=model_constraints),
            "ModelDataQuality": _section(Statistics=model_data_statistics,
                                         Constraints=model_data_constraints),
            "Bias": _section(ConfigFile=bias_config_file,
                             PreTrainingConstraints=bias_pre_training_constraints,
                             PostTrainingConstraints=bias_post_training_constraints),
            "Explainability": _section(Constraints=explainability_constraints,
                                       ConfigFile=explainability_config_file),
        }

    def to_request(self) -> dict[str, Any]:
        return {k: v for k, v in self.sections.items() if v}


class Model:
    def __init__(
        self,
        model_data: Any = None,
        image_uri: str | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
        sagemaker_session: Any = None,
        **kwargs: Any,
    ) -> None:
        _MODEL.check("Model", kwargs)
        self.model_data = model_data
        self.image_uri = image_uri
        self.entry_point, self.source_dir = code_paths(entry_point, source_dir)
        self.name = name
        self.env = dict(env or {})
        self.sagemaker_session = sagemaker_session

    def create_request(self) -> dict[str, Any]:
        """SageMaker's CreateModel shape."""
        return {"ModelName": self.name,
                "PrimaryContainer": {"Image": self.image_uri, "ModelDataUrl": self.model_data,
                                     "EntryPoint": self.entry_point,
                                     "SourceDir": self.source_dir, "Environment": self.env}}

    def create(self, instance_type: Any = None, accelerator_type: Any = None,
               serverless_inference_config: Any = None, tags: Any = None,
               accept_eula: Any = None, model_reference_arn: Any = None) -> Any:
        """In a pipeline session: step arguments for ``ModelStep`` (whose
        ``properties.ModelName`` names the model). Otherwise record the model now (artifact
        and code copied into the store with their hashes) under ``name`` (made up when
        None) and return the name, which ``Transformer(model_name=...)`` takes."""
        from stackyard.errors import DefinitionError

        if self.model_data is None:
            raise DefinitionError("this Model has no model_data to create a model from")
        if in_pipeline(self.sagemaker_session):
            return JobArgs("CreateModel", self.create_request())
        from stackyard._checks import job_name
        from stackyard.transform import create_model

        if self.name is None:
            stem = str(self.model_data).rstrip("/").rsplit("/", 2)[-2:][0]
            self.name = job_name("model", stem, f"{time.strftime('%Y%m%d-%H%M%S')}-"
                                 f"{secrets.token_hex(2)}")
        return create_model(self.create_request())["ModelName"]

    def register_request(
        self,
        content_types: list[str] | None = None,
        response_types: list[str] | None = None,
        model_package_group_name: Any = None,
        approval_status: Any = "PendingManualApproval",
        model_metrics: ModelMetrics | None = None,
        drift_check_baselines: DriftCheckBaselines | None = None,
        customer_metadata_properties: dict[str, Any] | None = None,
        description: str | None = None,
        sample_payload_url: Any = None,
    ) -> dict[str, Any]:
        """SageMaker's CreateModelPackage shape (see ``package_request``)."""
        return package_request(self.model_data, self.image_uri, self.entry_point,
                               self.source_dir, self.env, content_types, response_types,
                               model_package_group_name, approval_status, model_metrics,
                               drift_check_baselines, customer_metadata_properties,
                               description, sample_payload_url)

    def register(self, content_types: list[str] | None = None,
                 response_types: list[str] | None = None, inference_instances: Any = None,
                 transform_instances: Any = None, model_package_group_name: Any = None,
                 approval_status: Any = "PendingManualApproval",
                 model_metrics: ModelMetrics | None = None,
                 drift_check_baselines: DriftCheckBaselines | None = None,
                 customer_metadata_properties: dict[str, Any] | None = None,
                 description: str | None = None, sample_payload_url: Any = None,
                 **kwargs: Any) -> Any:
        """In a pipeline session: step arguments for ``ModelStep``. Otherwise register now
        and return the new ``ModelPackage``."""
        _REGISTER.check("register", kwargs)
        req = self.register_request(content_types, response_types, model_package_group_name,
                                    approval_status, model_metrics, drift_check_baselines,
                                    customer_metadata_properties, description,
                                    sample_payload_url)
        if in_pipeline(self.sagemaker_session):
            return JobArgs("RegisterModel", req)
        from stackyard.registry._step import register_from_request

        return register_from_request(req)

    def deploy(self, initial_instance_count: Any = None, instance_type: Any = None,
               serializer: Any = None, deserializer: Any = None,
               endpoint_name: str | None = None, data_capture_config: Any = None,
               **kwargs: Any) -> Any:
        """Serve this model from a managed endpoint; returns a ``Predictor`` that speaks
        through ``serializer``/``deserializer`` (default: CSV in, NumPy out).
        ``data_capture_config=DataCaptureConfig(...)`` turns on the endpoint's capture."""
        from stackyard.serving._predictor import deploy_model

        opts = DEPLOY.check("deploy", kwargs)
        if self.model_data is None:
            raise ValueError("this Model has no model_data to deploy")
        return deploy_model(str(self.model_data), self.entry_point, self.source_dir,
                            endpoint_name, serializer=serializer, deserializer=deserializer,
                            data_capture_config=data_capture_config, **opts)
