"""``QualityCheckStep`` and ``MonitorBatchTransformStep``: SageMaker's data- and
model-quality check steps (the engine's ``QualityCheck`` type, ``monitor._step``).

The check configs are ``stackyard.monitor``'s (re-exported by ``stackyard.workflow``); this
module imports the monitor package only when a step is made, so importing the SDK stays
light (the monitor needs pyarrow). Unlike SageMaker's definition, where the check flags
and supplied baselines sit beside ``Arguments``, they are inside it here: that is where
the engine resolves pipeline variables, so a supplied baseline may be a ``LambdaStep``
output or a parameter.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from stackyard.errors import DefinitionError
from stackyard.workflow._policies import CacheConfig
from stackyard.workflow._session import JobArgs
from stackyard.workflow._steps import Step, StepCollection, TransformStep


def _config(config: Any) -> tuple[str, dict[str, Any]]:
    """(CheckType, the config's fields as the step records them). Not ``asdict``: that
    would deep-copy the steps a pipeline-variable field refers to."""
    from stackyard.monitor import DataQualityCheckConfig, ModelQualityCheckConfig

    if isinstance(config, DataQualityCheckConfig):
        kind = "DATA_QUALITY"
    elif isinstance(config, ModelQualityCheckConfig):
        kind = "MODEL_QUALITY"
    else:
        raise DefinitionError(f"quality_check_config must be a DataQualityCheckConfig or a "
                              f"ModelQualityCheckConfig; got {config!r}")
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    return kind, {k: v for k, v in values.items() if v is not None}


class QualityCheckStep(Step):
    """Calculates a baseline of ``quality_check_config.baseline_dataset`` and (unless
    ``skip_check``) checks the data against the previous baseline: the supplied one, else
    the latest Approved version of ``model_package_group_name``. Violations fail the step
    when ``fail_on_violation``. Properties: ``CalculatedBaselineStatistics`` /
    ``CalculatedBaselineConstraints``, ``BaselineUsedForDriftCheckStatistics`` /
    ``BaselineUsedForDriftCheckConstraints`` (the new baseline when
    ``register_new_baseline``, else the previous one), ``ViolationReport``, ``Report``.
    ``check_job_config`` only names AWS resources and is ignored."""

    step_type = "QualityCheck"

    def __init__(
        self,
        name: str,
        quality_check_config: Any,
        check_job_config: Any = None,
        skip_check: Any = False,
        fail_on_violation: Any = True,
        register_new_baseline: Any = False,
        model_package_group_name: Any = None,
        supplied_baseline_statistics: Any = None,
        supplied_baseline_constraints: Any = None,
        display_name: str | None = None,
        description: str | None = None,
        cache_config: CacheConfig | None = None,
        depends_on: list[Any] | None = None,
    ) -> None:
        super().__init__(name, display_name, description, depends_on, None, cache_config)
        self.check_type, self.config = _config(quality_check_config)
        self.check_job_config = check_job_config
        self.flags = {"SkipCheck": skip_check, "FailOnViolation": fail_on_violation,
                      "RegisterNewBaseline": register_new_baseline,
                      "ModelPackageGroupName": model_package_group_name,
                      "SuppliedBaselineStatistics": supplied_baseline_statistics,
                      "SuppliedBaselineConstraints": supplied_baseline_constraints}

    def arguments(self) -> Any:
        return {"CheckType": self.check_type, "QualityCheckConfig": self.config,
                **self.flags}


class MonitorBatchTransformStep(StepCollection):
    """A transform step (``<name>-transform``) and a quality check step
    (``<name>-monitoring``) that checks the transform's input (data quality; before the
    transform when ``monitor_before_transform``) or its output (model quality; after). The
    check reads ``monitor_configuration.baseline_dataset``; left None, or naming the
    transformer's ``output_path``, it reads the transform's input (data quality) or this
    run's output folder (model quality) instead. ``fail_on_violation=False`` lets the run
    go on and still records the violation report."""

    def __init__(
        self,
        name: str,
        transform_step_args: Any,
        monitor_configuration: Any,
        check_job_configuration: Any = None,
        monitor_before_transform: bool = False,
        fail_on_violation: Any = True,
        supplied_baseline_statistics: Any = None,
        supplied_baseline_constraints: Any = None,
        display_name: str | None = None,
        description: str | None = None,
    ) -> None:
        if not isinstance(transform_step_args, JobArgs) or transform_step_args.kind != (
                "Transform"):
            raise DefinitionError("the transform_step_args of MonitorBatchTransformStep must "
                                  "come from transformer.transform() in a PipelineSession")
        kind, _ = _config(monitor_configuration)
        if monitor_before_transform and kind != "DATA_QUALITY":
            raise DefinitionError("monitor_before_transform only applies to a "
                                  "DataQualityCheckConfig (the output does not exist yet)")
        transform = TransformStep(
            f"{name}-transform", step_args=transform_step_args, description=description,
            display_name=f"{display_name}-transform" if display_name else None)
        check = QualityCheckStep(
            f"{name}-monitoring", monitor_configuration, check_job_configuration,
            skip_check=False, fail_on_violation=fail_on_violation,
            supplied_baseline_statistics=supplied_baseline_statistics,
            supplied_baseline_constraints=supplied_baseline_constraints,
            description=description,
            display_name=f"{display_name}-monitoring" if display_name else None)
        request = transform_step_args.request
        data = check.config.get("baseline_dataset")
        if data is None or _same_place(data, request["TransformOutput"]["S3OutputPath"]):
            check.config["baseline_dataset"] = (
                transform.properties.TransformOutput.S3OutputPath if kind == "MODEL_QUALITY"
                else request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
        if monitor_before_transform:
            transform.add_depends_on([check])
        else:
            check.add_depends_on([transform])
        super().__init__(name, [transform, check])


def _same_place(data: Any, output_path: Any) -> bool:
    """Whether ``data`` names the transformer's ``output_path`` (as a path or a URI)."""
    from stackyard._checks import is_remote, uri_to_path
    from stackyard.workflow._expr import PipelineVariable

    if output_path is None or isinstance(data, PipelineVariable) or isinstance(
            output_path, PipelineVariable):
        return False
    if is_remote(str(data)) or is_remote(str(output_path)):
        return str(data).rstrip("/") == str(output_path).rstrip("/")
    return uri_to_path(str(data)) == uri_to_path(str(output_path))
