"""Processing jobs: a script run over inputs that writes named outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackyard._checks import AWS_ONLY, KwargRules, container_path, local_path
from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs._common import count, destination
from stackyard.jobs._standalone import run_now
from stackyard.workflow._session import JobArgs, in_pipeline

PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = "/opt/ml/processing/input/code"


# Keywords each entry point accepts and ignores (they only matter on AWS or with several
# instances); any other unknown keyword is a TypeError.
_INPUT = KwargRules(frozenset(), frozenset({"s3_data_distribution_type", "app_managed"}))
_OUTPUT = KwargRules(frozenset(), frozenset({"app_managed"}))
_PROCESSOR = KwargRules(frozenset(), AWS_ONLY)
_RUN = KwargRules(frozenset(), frozenset({"experiment_config", "kms_key"}))


class ProcessingInput:
    def __init__(
        self,
        source: Any = None,
        destination: str | None = None,
        input_name: str | None = None,
        s3_data_type: str = "S3Prefix",
        s3_input_mode: str = "File",
        **kwargs: Any,
    ) -> None:
        _INPUT.check("ProcessingInput", kwargs)
        if s3_data_type != "S3Prefix" or s3_input_mode not in ("File", "FastFile"):
            raise DefinitionError(f"ProcessingInput: s3_data_type={s3_data_type!r}, "
                                  f"s3_input_mode={s3_input_mode!r}: only S3Prefix inputs in "
                                  "File mode are supported")
        if source is None:
            raise DefinitionError("ProcessingInput needs source=")
        self.source = source
        self.destination = destination
        self.input_name = input_name


class ProcessingOutput:
    """``destination``, when given, also receives a copy; the step's output URI is always
    the immutable, content-addressed one, so runs never overwrite each other's data."""

    def __init__(
        self,
        source: str | None = None,
        destination: Any = None,
        output_name: str | None = None,
        s3_upload_mode: str = "EndOfJob",
        **kwargs: Any,
    ) -> None:
        _OUTPUT.check("ProcessingOutput", kwargs)
        if source is None:
            raise DefinitionError("ProcessingOutput needs source= (a /opt/ml/processing/ path)")
        self.source = source
        self.destination = destination
        self.output_name = output_name


def _container_path(path: str, what: str) -> str:
    try:
        return container_path(path, PROCESSING_ROOT)
    except UsageError as e:
        raise DefinitionError(f"{what}: {e}") from None


class ScriptProcessor:
    """Runs ``command + [code] + arguments`` as a local job (``python3`` means stackyard's
    own interpreter, never whatever is first on PATH)."""

    def __init__(
        self,
        command: list[str] | None = None,
        image_uri: Any = None,
        instance_count: Any = 1,
        instance_type: Any = None,
        max_runtime_in_seconds: Any = None,
        base_job_name: str | None = None,
        env: dict[str, Any] | None = None,
        sagemaker_session: Any = None,
        **kwargs: Any,
    ) -> None:
        _PROCESSOR.check(type(self).__name__, kwargs)
        self.command = list(command or ["python3"])
        self.image_uri = image_uri
        # Pipeline variables are kept as they are and resolved when the run executes.
        self.instance_count = count(instance_count, "instance_count")
        self.instance_type = instance_type
        self.max_runtime_in_seconds = None if max_runtime_in_seconds is None else count(
            max_runtime_in_seconds, "max_runtime_in_seconds")
        self.base_job_name = base_job_name
        self.env = dict(env or {})
        self.sagemaker_session = sagemaker_session

    def request(
        self,
        code: str | Path,
        inputs: list[ProcessingInput] | None = None,
        outputs: list[ProcessingOutput] | None = None,
        arguments: list[Any] | None = None,
    ) -> dict[str, Any]:
        """The job request in the shape of SageMaker's CreateProcessingJob."""
        code_path = local_path(code, "code")
        proc_inputs = []
        for i, inp in enumerate(inputs or [], start=1):
            dest = _container_path(inp.destination or "", "ProcessingInput destination")
            src = inp.source
            if isinstance(src, str | Path) and "://" not in str(src):
                src = Path(src).expanduser().resolve().as_uri()
            proc_inputs.append({"InputName": inp.input_name or f"input-{i}",
                                "S3Input": {"S3Uri": src, "LocalPath": dest}})
        proc_inputs.append({"InputName": "code", "S3Input": {
            "S3Uri": Path(code_path).as_uri(), "LocalPath": CODE_DIR}})
        proc_outputs = []
        for i, out in enumerate(outputs or [], start=1):
            dst = destination(out.destination, "ProcessingOutput destination")
            proc_outputs.append({"OutputName": out.output_name or f"output-{i}", "S3Output": {
                "S3Uri": dst, "LocalPath": _container_path(out.source, "ProcessingOutput source")}})
        req: dict[str, Any] = {
            "AppSpecification": {
                "ImageUri": self.image_uri,
                "ContainerEntrypoint": [*self.command, f"{CODE_DIR}/{Path(code_path).name}"],
                "ContainerArguments": list(arguments or []),
            },
            "ProcessingInputs": proc_inputs,
            "ProcessingOutputConfig": {"Outputs": proc_outputs},
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": self.instance_count,
                "InstanceType": self.instance_type}},
            "Environment": self.env,
        }
        if self.max_runtime_in_seconds is not None:
            req["StoppingCondition"] = {"MaxRuntimeInSeconds": self.max_runtime_in_seconds}
        return req

    def run(
        self,
        code: str | Path,
        inputs: list[ProcessingInput] | None = None,
        outputs: list[ProcessingOutput] | None = None,
        arguments: list[Any] | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """In a pipeline session: the step arguments. Otherwise: run the job now."""
        _RUN.check("run", kwargs)
        req = self.request(code, inputs, outputs, arguments)
        args = JobArgs("Processing", req)
        if in_pipeline(self.sagemaker_session):
            return args
        self.latest_job = run_now(job_name or self.base_job_name or "processing-job", args)
        return self.latest_job


class SKLearnProcessor(ScriptProcessor):
    """A ``ScriptProcessor`` running Python (the framework version is not enforced)."""


class Processor(ScriptProcessor):
    """Generic processor: ``entrypoint`` is the command; ``run(code=...)`` as ScriptProcessor."""

    def __init__(self, entrypoint: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(command=entrypoint, **kwargs)
