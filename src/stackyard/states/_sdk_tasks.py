"""The Data Science SDK's service steps (``stepfunctions.steps.sagemaker`` / ``compute`` /
``service``): Task states whose ``Parameters`` are the SageMaker API request a stackyard
estimator, processor or transformer describes.

The requests have the shapes the SDK writes (``training_config`` and friends), with what
differs locally: code is not uploaded, so ``sagemaker_submit_directory`` names the local
``source_dir`` as a ``file://`` URI (``stackyard.states`` runs it in place); local paths
become ``file://`` URIs; an output without a destination has ``S3Uri: null`` and lands in
the content-addressed store; AWS-only settings (role, volume size, KMS keys) are left out.
``parameters=`` is merged over the request last, so any field can be overridden or made a
placeholder, as with the SDK.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackyard._checks import check_name, container_path, is_remote, to_uri, uri_to_path
from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs import Estimator, Model, ProcessingInput, ProcessingOutput, TrainingInput
from stackyard.jobs._common import destination
from stackyard.states._sdk_blocks import Placeholder, Task

_ARN = "arn:aws:states:::{service}:{api}"
# What a Framework estimator adds to its hyperparameters (SageMaker's model.py names).
_LOG_LEVEL = 20


def service_arn(service: str, api: str, pattern: str = "") -> str:
    """``arn:aws:states:::service:api[.sync|.waitForTaskToken]``."""
    arn = _ARN.format(service=service, api=api)
    return f"{arn}.{pattern}" if pattern else arn


def merge_dicts(target: dict[str, Any], source: dict[str, Any]) -> None:
    """``source`` merged into ``target`` in place: nested dicts merge, anything else in
    ``source`` wins (the SDK's rule for ``parameters=``)."""
    for key, value in source.items():
        if isinstance(target.get(key), dict) and isinstance(value, dict):
            merge_dicts(target[key], value)
        else:
            target[key] = value


def _tags(tags: Any) -> Any:
    return tags if isinstance(tags, Placeholder) else [
        {"Key": k, "Value": v} for k, v in tags.items()]


def _uri(value: Any) -> Any:
    """A local path as a ``file://`` URI; a remote URI or a placeholder as it is."""
    if isinstance(value, str | Path) and not is_remote(value):
        return to_uri(uri_to_path(value))
    return value


def _finish(step: Task, state_id: str, request: dict[str, Any], kwargs: dict[str, Any],
            extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if value is not None and value != {}:
            request[key] = _tags(value) if key == "Tags" else value
    if isinstance(kwargs.get("parameters"), dict):
        merge_dicts(request, kwargs["parameters"])
    kwargs["parameters"] = request
    Task.__init__(step, state_id, **kwargs)


class TrainingStep(Task):
    """``createTrainingJob(.sync)`` for a stackyard ``Estimator`` (script mode): the entry
    point and source folder travel as ``sagemaker_program`` / ``sagemaker_submit_directory``
    hyperparameters, JSON-encoded as SageMaker's framework estimators encode them."""

    def __init__(self, state_id: str, estimator: Estimator, job_name: str | Placeholder,
                 data: Any = None, hyperparameters: dict[str, Any] | Placeholder | None = None,
                 mini_batch_size: int | None = None, experiment_config: Any = None,
                 wait_for_completion: bool = True, tags: Any = None,
                 output_data_config_path: Any = None, **kwargs: Any) -> None:
        if not isinstance(estimator, Estimator):
            raise DefinitionError(f"TrainingStep {state_id!r}: estimator must be a stackyard "
                                  f"Estimator (SKLearn, XGBoost...), got {estimator!r}")
        if estimator.dependencies:
            raise DefinitionError(f"TrainingStep {state_id!r}: dependencies= are not sent "
                                  "with a state machine's job; put them in source_dir")
        self.estimator, self.job_name = estimator, job_name
        kwargs["resource"] = service_arn("sagemaker", "createTrainingJob",
                                         "sync" if wait_for_completion else "")
        request = self._request(estimator, job_name, data, output_data_config_path)
        hps = request["HyperParameters"]
        if isinstance(hyperparameters, Placeholder):
            request["HyperParameters"] = hyperparameters
        elif hyperparameters is not None:
            hps.update(hyperparameters)
        _finish(self, state_id, request, kwargs,
                {"ExperimentConfig": experiment_config, "Tags": tags})

    def get_expected_model(self, model_name: str | Placeholder | None = None) -> Model:
        """The model this step will train, for a ``ModelStep`` right after it: the
        estimator's code, image and environment, the job's artifact
        (``$['ModelArtifacts']['S3ModelArtifacts']``), named ``model_name`` or else after the
        training job, as the SDK names it."""
        est = self.estimator
        return Model(model_data=self.output()["ModelArtifacts"]["S3ModelArtifacts"],
                     image_uri=est.image_uri, entry_point=est.entry_point,
                     source_dir=est.source_dir, name=model_name or self.job_name,
                     env=est.environment)

    @staticmethod
    def _request(estimator: Estimator, job_name: Any, data: Any, output: Any
                 ) -> dict[str, Any]:
        code = estimator.code()
        submit = code["SourceDir"] or code["EntryPointPath"]
        hps = {str(k): json.dumps(v) for k, v in estimator.hyperparameters().items()}
        hps.update({"sagemaker_program": json.dumps(Path(code["EntryPoint"]).name),
                    "sagemaker_submit_directory": json.dumps(to_uri(submit)),
                    "sagemaker_container_log_level": str(_LOG_LEVEL)})
        if isinstance(job_name, str):
            hps["sagemaker_job_name"] = json.dumps(job_name)
        algorithm: dict[str, Any] = {"TrainingImage": estimator.image_uri,
                                     "TrainingInputMode": "File"}
        if estimator.metric_definitions:
            algorithm["MetricDefinitions"] = estimator.metric_definitions
        out = destination(output if output is not None else estimator.output_path,
                          "output_data_config_path")
        request: dict[str, Any] = {
            "AlgorithmSpecification": algorithm,
            "OutputDataConfig": {"S3OutputPath": out},
            "StoppingCondition": {"MaxRuntimeInSeconds": estimator.max_run},
            "ResourceConfig": {"InstanceCount": estimator.instance_count,
                               "InstanceType": estimator.instance_type},
        }
        channels = _channels(data)
        if channels:
            request["InputDataConfig"] = channels
        request["HyperParameters"] = hps
        if estimator.environment:
            request["Environment"] = estimator.environment
        request["TrainingJobName"] = job_name
        return request


class ModelStep(Task):
    """``createModel`` for a stackyard ``Model`` (e.g. ``TrainingStep.get_expected_model()``)
    that a ``TransformStep`` then names. A model with inference code gets the framework
    container's shape: ``SAGEMAKER_PROGRAM`` and ``SAGEMAKER_SUBMIT_DIRECTORY`` (the
    ``file://`` URI of ``source_dir``, or of the entry point file alone) in
    ``PrimaryContainer.Environment``. ``ExecutionRoleArn`` is left out; ``instance_type``
    only picks an AWS serving image, so it is accepted and unused."""

    def __init__(self, state_id: str, model: Model, model_name: str | Placeholder | None = None,
                 instance_type: Any = None, tags: Any = None, **kwargs: Any) -> None:
        if not isinstance(model, Model):
            raise DefinitionError(f"ModelStep {state_id!r}: model must be a stackyard Model "
                                  f"(or TrainingStep.get_expected_model()), got {model!r}")
        name = model_name or model.name
        if name is None:
            raise DefinitionError(f"ModelStep {state_id!r}: give model_name= (or "
                                  "Model(name=)); a placeholder such as "
                                  "ExecutionInput(...)['ModelName'] works too")
        if isinstance(name, str):
            try:
                check_name(name, "model")
            except UsageError as e:
                raise DefinitionError(f"ModelStep {state_id!r}: {e}") from None
        self.model, self.model_name = model, name
        kwargs["resource"] = service_arn("sagemaker", "createModel")
        container: dict[str, Any] = {}
        if model.entry_point is None:            # the SDK's plain Model: env, image, data
            container["Environment"] = model.env
            if model.image_uri is not None:
                container["Image"] = model.image_uri
        else:                                    # a framework model: image, env, data
            if model.image_uri is not None:
                container["Image"] = model.image_uri
            code = model.source_dir or model.entry_point
            container["Environment"] = {
                **model.env, "SAGEMAKER_PROGRAM": Path(model.entry_point).name,
                "SAGEMAKER_SUBMIT_DIRECTORY": to_uri(code),
                "SAGEMAKER_CONTAINER_LOG_LEVEL": str(_LOG_LEVEL)}
        container["ModelDataUrl"] = _uri(model.model_data)
        _finish(self, state_id, {"ModelName": name, "PrimaryContainer": container}, kwargs,
                {"Tags": tags})


def _channels(data: Any) -> list[dict[str, Any]]:
    """``InputDataConfig`` from ``data``: a location (channel ``training``), a
    ``TrainingInput``, a placeholder, or a dict of channel name to any of those."""
    if data is None:
        return []
    named = data if isinstance(data, dict) else {"training": data}
    config = []
    for name, value in named.items():
        try:
            check_name(name, "channel")
        except UsageError as e:
            raise DefinitionError(str(e)) from None
        inp = value if isinstance(value, TrainingInput) else None
        source = {"S3DataType": "S3Prefix",
                  "S3Uri": _uri(inp.s3_data if inp else value),
                  "S3DataDistributionType": "FullyReplicated"}
        channel: dict[str, Any] = {"DataSource": {"S3DataSource": source}, "ChannelName": name}
        if inp is not None and inp.content_type:
            channel["ContentType"] = inp.content_type
        config.append(channel)
    return config


class ProcessingStep(Task):
    """``createProcessingJob(.sync)`` for a stackyard processor. As with the SDK, the script
    is one of the ``inputs`` (usually to ``/opt/ml/processing/input/code``) and
    ``container_entrypoint`` runs it, e.g. ``["python3", ".../code/prepare.py"]``."""

    def __init__(self, state_id: str, processor: Any, job_name: str | Placeholder,
                 inputs: list[ProcessingInput] | None = None,
                 outputs: list[ProcessingOutput] | None = None,
                 experiment_config: Any = None, container_arguments: Any = None,
                 container_entrypoint: Any = None, kms_key_id: Any = None,
                 wait_for_completion: bool = True, tags: Any = None, **kwargs: Any) -> None:
        kwargs["resource"] = service_arn("sagemaker", "createProcessingJob",
                                         "sync" if wait_for_completion else "")
        app: dict[str, Any] = {"ImageUri": processor.image_uri}
        if container_arguments is not None:
            app["ContainerArguments"] = container_arguments
        if container_entrypoint is not None:
            app["ContainerEntrypoint"] = container_entrypoint
        request: dict[str, Any] = {"AppSpecification": app}
        if inputs:
            request["ProcessingInputs"] = [
                {"InputName": inp.input_name or f"input-{i}", "AppManaged": False,
                 "S3Input": {"LocalPath": _local(inp.destination, state_id),
                             "S3CompressionType": "None",
                             "S3DataDistributionType": "FullyReplicated",
                             "S3DataType": "S3Prefix", "S3InputMode": "File",
                             "S3Uri": _uri(inp.source)}}
                for i, inp in enumerate(inputs, start=1)]
        if outputs:
            request["ProcessingOutputConfig"] = {"Outputs": [
                {"OutputName": out.output_name or f"output-{i}", "AppManaged": False,
                 "S3Output": {"LocalPath": _local(out.source, state_id),
                              "S3UploadMode": "EndOfJob",
                              "S3Uri": destination(out.destination, "ProcessingOutput")}}
                for i, out in enumerate(outputs, start=1)]}
            if kms_key_id is not None:
                request["ProcessingOutputConfig"]["KmsKeyId"] = kms_key_id
        request["ProcessingResources"] = {"ClusterConfig": {
            "InstanceCount": processor.instance_count, "InstanceType": processor.instance_type}}
        if processor.max_runtime_in_seconds is not None:
            request["StoppingCondition"] = {
                "MaxRuntimeInSeconds": processor.max_runtime_in_seconds}
        if processor.env:
            request["Environment"] = processor.env
        request["ProcessingJobName"] = job_name
        _finish(self, state_id, request, kwargs,
                {"ExperimentConfig": experiment_config, "Tags": tags})


def _local(path: Any, state_id: str) -> str:
    try:
        return container_path(path or "", "/opt/ml/processing")
    except UsageError as e:
        raise DefinitionError(f"ProcessingStep {state_id!r}: {e}") from None


class TransformStep(Task):
    """``createTransformJob(.sync)`` for a stackyard ``Transformer`` over ``data``."""

    def __init__(self, state_id: str, transformer: Any, job_name: str | Placeholder,
                 model_name: str | Placeholder, data: Any, data_type: Any = "S3Prefix",
                 content_type: Any = None, compression_type: Any = None,
                 split_type: Any = None, experiment_config: Any = None,
                 wait_for_completion: bool = True, tags: Any = None, input_filter: Any = None,
                 output_filter: Any = None, join_source: Any = None, **kwargs: Any) -> None:
        kwargs["resource"] = service_arn("sagemaker", "createTransformJob",
                                         "sync" if wait_for_completion else "")
        t = transformer
        transform_input: dict[str, Any] = {"DataSource": {"S3DataSource": {
            "S3DataType": data_type, "S3Uri": _uri(data)}}}
        for key, value in (("ContentType", content_type),
                           ("CompressionType", compression_type), ("SplitType", split_type)):
            if value is not None:
                transform_input[key] = value
        output: dict[str, Any] = {"S3OutputPath": t.output_path}
        for key, value in (("Accept", t.accept), ("AssembleWith", t.assemble_with)):
            if value is not None:
                output[key] = value
        request: dict[str, Any] = {
            "TransformJobName": job_name, "ModelName": model_name,
            "TransformInput": transform_input, "TransformOutput": output,
            "TransformResources": {"InstanceCount": t.instance_count,
                                   "InstanceType": t.instance_type}}
        for key, value in (("BatchStrategy", t.strategy),
                           ("MaxConcurrentTransforms", t.max_concurrent_transforms),
                           ("MaxPayloadInMB", t.max_payload), ("Environment", t.env)):
            if value is not None and value != {}:
                request[key] = value
        processing = {k: v for k, v in (("InputFilter", input_filter),
                                        ("OutputFilter", output_filter),
                                        ("JoinSource", join_source)) if v is not None}
        _finish(self, state_id, request, kwargs,
                {"ExperimentConfig": experiment_config, "DataProcessing": processing,
                 "Tags": tags})


class LambdaStep(Task):
    """``lambda:invoke`` (``.waitForTaskToken`` with ``wait_for_callback=True``); the
    function and its payload go in ``parameters`` (``FunctionName``, ``Payload``)."""

    def __init__(self, state_id: str, wait_for_callback: bool = False, **kwargs: Any) -> None:
        kwargs["resource"] = service_arn("lambda", "invoke",
                                         "waitForTaskToken" if wait_for_callback else "")
        super().__init__(state_id, **kwargs)


class SnsPublishStep(Task):
    """``sns:publish`` (``.waitForTaskToken`` with ``wait_for_callback=True``); ``TopicArn``,
    ``Message`` and ``Subject`` go in ``parameters``."""

    def __init__(self, state_id: str, wait_for_callback: bool = False, **kwargs: Any) -> None:
        kwargs["resource"] = service_arn("sns", "publish",
                                         "waitForTaskToken" if wait_for_callback else "")
        super().__init__(state_id, **kwargs)
