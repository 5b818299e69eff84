"""Pipeline steps. Each is pure data that compiles to one entry of the definition's Steps."""

from __future__ import annotations

from typing import Any

from stackyard._checks import KwargRules
from stackyard.errors import DefinitionError
from stackyard.workflow._conditions import Condition
from stackyard.workflow._expr import (
    DelayedReturn,
    Properties,
    PropertyFile,
    collect_refs,
    to_json,
)
from stackyard.workflow._policies import CacheConfig, RetryPolicy
from stackyard.workflow._register import package_request
from stackyard.workflow._session import JobArgs

# What every step takes besides its own arguments (``Step.__init__``).
_COMMON = frozenset({"display_name", "description", "depends_on", "retry_policies",
                     "cache_config", "on_failure"})


def as_step(s: Any) -> Step | str:
    if isinstance(s, DelayedReturn):
        return s.step
    if isinstance(s, Step | str):
        return s
    raise DefinitionError(f"{s!r} is not a step, a @step result or a step name")


def as_steps(items: list[Any] | None) -> list[Step | str]:
    """Steps, step names, ``@step`` results and step collections (each of whose steps
    counts), in order."""
    return [x for s in items or [] for x in (
        s.steps if isinstance(s, StepCollection) else [as_step(s)])]


class Step:
    step_type = ""

    def __init__(
        self,
        name: str,
        display_name: str | None = None,
        description: str | None = None,
        depends_on: list[Any] | None = None,
        retry_policies: list[RetryPolicy] | None = None,
        cache_config: CacheConfig | None = None,
        on_failure: Any = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"a step name must be a non-empty string; got {name!r}")
        self.name = name
        self.display_name = display_name
        self.description = description
        self.depends_on = as_steps(depends_on)
        self.retry_policies = list(retry_policies or [])
        self.cache_config = cache_config
        self.on_failure = as_step(on_failure) if on_failure is not None else None

    @property
    def properties(self) -> Properties:
        return Properties(self)

    def add_depends_on(self, steps: list[Any]) -> None:
        self.depends_on.extend(as_steps(steps))

    def arguments(self) -> Any:
        """The step's arguments, pipeline variables still in place."""
        return {}

    def extra(self) -> dict[str, Any]:
        """Type-specific top-level definition fields (PropertyFiles, ...)."""
        return {}

    def linked_steps(self) -> list[Step]:
        """Steps this one brings into the pipeline (references, branches, handlers)."""
        linked = collect_refs(self.arguments()) + [d for d in self.depends_on
                                                  if isinstance(d, Step)]
        if isinstance(self.on_failure, Step):
            linked.append(self.on_failure)
        return linked

    def to_definition(self) -> dict[str, Any]:
        d: dict[str, Any] = {"Name": self.name, "Type": self.step_type,
                             "Arguments": to_json(self.arguments())}
        if self.depends_on:
            d["DependsOn"] = [s.name if isinstance(s, Step) else s for s in self.depends_on]
        if self.display_name:
            d["DisplayName"] = self.display_name
        if self.description:
            d["Description"] = self.description
        if self.retry_policies:
            d["RetryPolicies"] = [p.to_definition() for p in self.retry_policies]
        if self.cache_config is not None:
            d["CacheConfig"] = self.cache_config.to_definition()
        if self.on_failure is not None:
            d["OnFailure"] = (self.on_failure.name if isinstance(self.on_failure, Step)
                              else self.on_failure)
        d.update(self.extra())
        return d


_MAKERS = {"Processing": "processor.run()", "Training": "estimator.fit()",
           "Tuning": "tuner.fit()", "RegisterModel": "model.register()",
           "CreateModel": "model.create()", "Transform": "transformer.transform()"}


def _job_args(kind: str | tuple[str, ...], step_args: Any, build: Any) -> JobArgs:
    """``step_args`` from a pipeline-session call (of one of the ``kind``s), else the
    step's own arguments."""
    kinds = (kind,) if isinstance(kind, str) else kind
    if step_args is not None:
        if not isinstance(step_args, JobArgs) or step_args.kind not in kinds:
            raise DefinitionError(
                f"step_args must come from {' or '.join(_MAKERS[k] for k in kinds)} called "
                "on an object whose sagemaker_session is a PipelineSession()")
        return step_args
    return build()


class ProcessingStep(Step):
    step_type = "Processing"

    def __init__(
        self,
        name: str,
        processor: Any = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        job_arguments: list[Any] | None = None,
        code: str | None = None,
        property_files: list[PropertyFile] | None = None,
        step_args: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **KwargRules(_COMMON, frozenset({"kms_key"})).check(
            "ProcessingStep", kwargs))

        def build() -> JobArgs:
            if processor is None or code is None:
                raise DefinitionError(
                    f"ProcessingStep {name!r} needs processor= and code= (or step_args=)")
            return JobArgs("Processing", processor.request(code, inputs, outputs, job_arguments))

        self.job = _job_args("Processing", step_args, build)
        self.property_files = list(property_files or [])

    def arguments(self) -> Any:
        return self.job.request

    def extra(self) -> dict[str, Any]:
        if not self.property_files:
            return {}
        return {"PropertyFiles": [p.expr for p in self.property_files]}


class TrainingStep(Step):
    step_type = "Training"

    def __init__(
        self,
        name: str,
        estimator: Any = None,
        inputs: Any = None,
        step_args: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)

        def build() -> JobArgs:
            if estimator is None:
                raise DefinitionError(f"TrainingStep {name!r} needs estimator= (or step_args=)")
            return JobArgs("Training", estimator.request(inputs))

        self.job = _job_args("Training", step_args, build)

    def arguments(self) -> Any:
        return self.job.request


class TuningStep(Step):
    """Runs a ``HyperparameterTuner``; every trial is a training job of its own."""

    step_type = "Tuning"

    def __init__(
        self,
        name: str,
        tuner: Any = None,
        inputs: Any = None,
        step_args: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **KwargRules(_COMMON, frozenset({"job_arguments"})).check(
            "TuningStep", kwargs))

        def build() -> JobArgs:
            if tuner is None:
                raise DefinitionError(f"TuningStep {name!r} needs tuner= (or step_args=)")
            return JobArgs("Tuning", tuner.request(inputs))

        self.job = _job_args("Tuning", step_args, build)

    def arguments(self) -> Any:
        return self.job.request

    def get_top_model_s3_uri(self, top_k: int, s3_bucket: str | None = None,
                             prefix: str = "") -> Properties:
        """The model artifact of the k-th best training job (0 = best)."""
        return Properties(self, "TopModelArtifacts")[int(top_k)]


class ModelStep(Step):
    """Registers a model version (``ModelStep(name, step_args=model.register(...))``), or
    creates a named model a transform can run (``step_args=model.create()``;
    ``properties.ModelName`` names it)."""

    step_type = "RegisterModel"

    def __init__(self, name: str, step_args: Any = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)

        def build() -> JobArgs:
            raise DefinitionError(f"ModelStep {name!r} needs step_args=model.register(...) "
                                  "or step_args=model.create()")

        self.job = _job_args(("RegisterModel", "CreateModel"), step_args, build)
        if self.job.kind == "CreateModel":
            self.step_type = "Model"

    def arguments(self) -> Any:
        return self.job.request


class RegisterModel(ModelStep):
    """The older registration step: a model from an estimator's (or given) artifact."""

    def __init__(self, name: str, content_types: list[str] | None = None,
                 response_types: list[str] | None = None, model_package_group_name: Any = None,
                 estimator: Any = None, model_data: Any = None, entry_point: str | None = None,
                 source_dir: str | None = None, image_uri: str | None = None,
                 approval_status: Any = "PendingManualApproval", model_metrics: Any = None,
                 drift_check_baselines: Any = None, customer_metadata_properties: Any = None,
                 description: str | None = None, inference_instances: Any = None,
                 transform_instances: Any = None, **kwargs: Any) -> None:
        kwargs = KwargRules(_COMMON).check("RegisterModel", kwargs)
        if estimator is not None:
            entry_point = entry_point or estimator.entry_point
            source_dir = source_dir or estimator.source_dir
        req = package_request(model_data, image_uri, entry_point, source_dir, None,
                              content_types, response_types, model_package_group_name,
                              approval_status, model_metrics, drift_check_baselines,
                              customer_metadata_properties, description)
        super().__init__(name, step_args=JobArgs("RegisterModel", req), **kwargs)


class TransformStep(Step):
    """A batch transform job: ``TransformStep(name, step_args=transformer.transform(...))``
    (or ``transformer=`` and ``inputs=TransformInput(...)``). ``properties.TransformOutput
    .S3OutputPath`` is the job's output folder in the content-addressed store (one
    ``<input file>.out`` per input file); the transformer's ``output_path``, if any, gets a
    copy."""

    step_type = "Transform"

    def __init__(
        self,
        name: str,
        step_args: Any = None,
        transformer: Any = None,
        inputs: Any = None,
        display_name: str | None = None,
        description: str | None = None,
        cache_config: CacheConfig | None = None,
        depends_on: list[Any] | None = None,
        retry_policies: list[RetryPolicy] | None = None,
    ) -> None:
        super().__init__(name, display_name, description, depends_on, retry_policies,
                         cache_config)
        if (step_args is None) == (transformer is None):
            raise DefinitionError(f"TransformStep {name!r}: give step_args= (from "
                                  "transformer.transform()) or transformer= and inputs=, "
                                  "not both")

        def build() -> JobArgs:
            if inputs is None:
                raise DefinitionError(f"TransformStep {name!r}: transformer= needs inputs="
                                      "TransformInput(...)")
            return JobArgs("Transform", transformer.transform_request(inputs))

        self.job = _job_args("Transform", step_args, build)

    def arguments(self) -> Any:
        return self.job.request


class StepCollection:
    """Several steps under one name (SageMaker's ``StepCollection``): a pipeline, a
    ``depends_on`` or a branch that lists it lists each of its steps; its ``properties``
    are its last step's."""

    def __init__(self, name: str, steps: list[Step]) -> None:
        self.name = name
        self.steps = list(steps)

    @property
    def properties(self) -> Properties:
        return self.steps[-1].properties


class ConditionStep(Step):
    """Runs ``if_steps`` when every condition holds, else ``else_steps``; the branch not
    taken (and whatever depends only on it) shows as Skipped."""

    step_type = "Condition"

    def __init__(
        self,
        name: str,
        conditions: list[Condition] | None = None,
        if_steps: list[Any] | None = None,
        else_steps: list[Any] | None = None,
        depends_on: list[Any] | None = None,
        display_name: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(name, display_name, description, depends_on)
        self.conditions = list(conditions or [])
        if not self.conditions:
            raise DefinitionError(f"ConditionStep {name!r} needs at least one condition")
        self.if_steps = as_steps(if_steps)
        self.else_steps = as_steps(else_steps)

    def arguments(self) -> Any:
        return {"Conditions": [c.to_definition() for c in self.conditions],
                "IfSteps": [s.name if isinstance(s, Step) else s for s in self.if_steps],
                "ElseSteps": [s.name if isinstance(s, Step) else s for s in self.else_steps]}

    def linked_steps(self) -> list[Step]:
        refs = [s for c in self.conditions for s in c.step_refs()]
        branch = [s for s in self.if_steps + self.else_steps if isinstance(s, Step)]
        return super().linked_steps() + refs + branch


class FailStep(Step):
    """Ends the execution as Failed with ``error_message`` (which may be a ``Join``)."""

    step_type = "Fail"

    def __init__(self, name: str, error_message: Any = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.error_message = error_message if error_message is not None else ""

    def arguments(self) -> Any:
        return {"ErrorMessage": self.error_message}


class RawStep(Step):
    """A step rebuilt from a definition: it reproduces its JSON exactly."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.name = definition["Name"]
        self.step_type = definition["Type"]
        self._definition = definition
        self.depends_on = []
        self.on_failure = None

    def arguments(self) -> Any:
        return self._definition.get("Arguments", {})

    def to_definition(self) -> dict[str, Any]:
        return dict(self._definition)

    def linked_steps(self) -> list[Step]:
        return []
