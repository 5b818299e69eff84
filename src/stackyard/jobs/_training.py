"""Training jobs: a script-mode entry point with channels, hyperparameters and a model dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackyard._checks import (
    AWS_ONLY,
    KwargRules,
    check_name,
    is_remote,
    local_path,
    to_uri,
    uri_to_path,
)
from stackyard.errors import DefinitionError
from stackyard.jobs._common import count, destination
from stackyard.jobs._standalone import run_now
from stackyard.runtime import compile_metrics
from stackyard.workflow._session import JobArgs, in_pipeline

# Keywords accepted and ignored (AWS-only, or meaningless with one local instance); any
# other unknown keyword is a TypeError.
_INPUT = KwargRules(frozenset(), frozenset({"shuffle_config", "input_mode"}))
_ESTIMATOR = KwargRules(frozenset(), AWS_ONLY | {"rules"})
_FIT = KwargRules(frozenset(), frozenset({"experiment_config"}))


class TrainingInput:
    def __init__(
        self,
        s3_data: Any,
        content_type: str | None = None,
        distribution: str | None = None,
        s3_data_type: str = "S3Prefix",
        **kwargs: Any,
    ) -> None:
        _INPUT.check("TrainingInput", kwargs)
        if s3_data_type != "S3Prefix":
            raise DefinitionError(f"TrainingInput: s3_data_type={s3_data_type!r}: only "
                                  "S3Prefix inputs are supported")
        self.s3_data = s3_data
        self.content_type = content_type


def _uri(value: Any) -> Any:
    """A local path or ``file://`` URI as a normalised ``file://`` URI; anything else (a
    remote URI, a pipeline variable) as it is."""
    if isinstance(value, str | Path) and not is_remote(value):
        return to_uri(uri_to_path(value))
    return value


class Estimator:
    """A script-mode estimator: ``entry_point`` (in ``source_dir``) runs unchanged, with the
    ``SM_*`` environment, ``--name value`` hyperparameters and ``/opt/ml`` paths it expects.

    ``fit()`` inside a pipeline session returns step arguments; otherwise it trains now and
    sets ``model_data`` to the stored ``model.tar.gz``.
    """

    def __init__(
        self,
        entry_point: str | Path | None = None,
        source_dir: str | Path | None = None,
        image_uri: Any = None,
        instance_count: Any = 1,
        instance_type: Any = None,
        hyperparameters: dict[str, Any] | None = None,
        metric_definitions: list[dict[str, str]] | None = None,
        max_run: Any = 24 * 60 * 60,
        output_path: Any = None,
        base_job_name: str | None = None,
        environment: dict[str, Any] | None = None,
        dependencies: list[str] | None = None,
        sagemaker_session: Any = None,
        **kwargs: Any,
    ) -> None:
        _ESTIMATOR.check(type(self).__name__, kwargs)
        if entry_point is None:
            raise DefinitionError(f"{type(self).__name__} needs entry_point= (a Python script)")
        self.entry_point = str(entry_point)
        self.source_dir = str(source_dir) if source_dir is not None else None
        self.image_uri = image_uri
        # Pipeline variables are kept as they are and resolved when the run executes.
        self.instance_count = count(instance_count, "instance_count")
        self.instance_type = instance_type
        self._hyperparameters = dict(hyperparameters or {})
        self.metric_definitions = list(metric_definitions or [])
        compile_metrics(self.metric_definitions)
        self.max_run = count(max_run, "max_run")
        self.output_path = output_path
        self.base_job_name = base_job_name
        self.environment = dict(environment or {})
        self.dependencies = [local_path(d, "dependency") for d in dependencies or []]
        self.sagemaker_session = sagemaker_session
        self.model_data: str | None = None
        self.latest_training_job: Any = None

    def set_hyperparameters(self, **kwargs: Any) -> None:
        self._hyperparameters.update(kwargs)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(self._hyperparameters)

    def code(self) -> dict[str, Any]:
        """What the job runs: ``source_dir`` whole, or else the entry point file alone
        (as SageMaker uploads it), never the folder around it."""
        if self.source_dir is not None:
            return {"EntryPoint": self.entry_point,
                    "SourceDir": local_path(self.source_dir, "source_dir")}
        path = local_path(self.entry_point, "entry_point")
        return {"EntryPoint": Path(path).name, "SourceDir": None, "EntryPointPath": path}

    def request(self, inputs: Any = None) -> dict[str, Any]:
        """The job request in the shape of SageMaker's CreateTrainingJob."""
        if inputs is None:
            channels: dict[str, Any] = {}
        elif isinstance(inputs, dict):
            channels = dict(inputs)
        else:  # one input: SageMaker names it "training"
            channels = {"training": inputs}
        config = []
        for name, inp in channels.items():
            check_name(name, "channel")
            ti = inp if isinstance(inp, TrainingInput) else TrainingInput(inp)
            ch: dict[str, Any] = {"ChannelName": name, "DataSource": {
                "S3DataSource": {"S3Uri": _uri(ti.s3_data), "S3DataType": "S3Prefix"}}}
            if ti.content_type:
                ch["ContentType"] = ti.content_type
            config.append(ch)
        req: dict[str, Any] = {
            "AlgorithmSpecification": {
                "TrainingImage": self.image_uri, "TrainingInputMode": "File",
                "MetricDefinitions": self.metric_definitions,
            },
            "Code": {**self.code(), "Dependencies": self.dependencies},
            "HyperParameters": dict(self._hyperparameters),
            "InputDataConfig": config,
            "OutputDataConfig": {"S3OutputPath": destination(self.output_path, "output_path")},
            "ResourceConfig": {"InstanceCount": self.instance_count,
                               "InstanceType": self.instance_type},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
            "Environment": self.environment,
        }
        return req

    def fit(
        self, inputs: Any = None, wait: bool = True, logs: bool = True,
        job_name: str | None = None, **kwargs: Any,
    ) -> Any:
        _FIT.check("fit", kwargs)
        args = JobArgs("Training", self.request(inputs))
        if in_pipeline(self.sagemaker_session):
            return args
        job = run_now(job_name or self.base_job_name or "training-job", args)
        self.latest_training_job = job
        self.model_data = job["outputs"].get("ModelArtifacts", {}).get("S3ModelArtifacts")
        return job

    def deploy(self, initial_instance_count: Any = None, instance_type: Any = None,
               serializer: Any = None, deserializer: Any = None,
               endpoint_name: str | None = None, data_capture_config: Any = None,
               **kwargs: Any) -> Any:
        """Serve the trained model (``model_data``) with this estimator's entry point; the
        arguments mean what they mean in ``Model.deploy``."""
        from stackyard.jobs._model import DEPLOY, Model

        DEPLOY.check("deploy", kwargs)
        if self.model_data is None:
            raise DefinitionError("this estimator has no model_data: fit() it first")
        code = self.code()
        entry = code["EntryPoint"] if code["SourceDir"] else code["EntryPointPath"]
        return Model(model_data=self.model_data, entry_point=entry,
                     source_dir=code["SourceDir"]).deploy(
            initial_instance_count, instance_type, serializer, deserializer, endpoint_name,
            data_capture_config, **kwargs)


class SKLearn(Estimator):
    """Script-mode scikit-learn estimator (``framework_version`` is accepted, not enforced)."""


class XGBoost(Estimator):
    """Script-mode XGBoost estimator (``framework_version`` is accepted, not enforced)."""
