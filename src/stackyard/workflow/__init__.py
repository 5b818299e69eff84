"""DEFINE: the SageMaker-named pipeline SDK. Pure data; compiles to a JSON definition.

The quality check configs (``DataQualityCheckConfig``, ``ModelQualityCheckConfig``,
``CheckJobConfig``) are ``stackyard.monitor``'s, loaded on first use: the monitor needs
pyarrow, which a pipeline without a check step should not pay for.
"""

from typing import Any

from stackyard.workflow._callback import CallbackOutput, CallbackOutputTypeEnum, CallbackStep
from stackyard.workflow._conditions import (
    Condition,
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
)
from stackyard.workflow._expr import (
    DelayedReturn,
    ExecutionVariables,
    Join,
    JsonGet,
    Properties,
    PropertyFile,
)
from stackyard.workflow._function import step
from stackyard.workflow._lambda import Lambda, LambdaOutput, LambdaOutputTypeEnum, LambdaStep
from stackyard.workflow._load import load_pipeline
from stackyard.workflow._monitoring import MonitorBatchTransformStep, QualityCheckStep
from stackyard.workflow._parameters import (
    Parameter,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)
from stackyard.workflow._pipeline import Pipeline, PipelineExecution
from stackyard.workflow._policies import (
    CacheConfig,
    ParallelismConfiguration,
    RetryPolicy,
    SageMakerJobStepRetryPolicy,
    StepExceptionType,
    StepRetryPolicy,
)
from stackyard.workflow._session import PipelineSession
from stackyard.workflow._steps import (
    ConditionStep,
    FailStep,
    ModelStep,
    ProcessingStep,
    RegisterModel,
    Step,
    StepCollection,
    TrainingStep,
    TransformStep,
    TuningStep,
)

_MONITOR_NAMES = ("CheckJobConfig", "DataQualityCheckConfig", "ModelQualityCheckConfig")


def __getattr__(name: str) -> Any:
    if name in _MONITOR_NAMES:
        import stackyard.monitor

        return getattr(stackyard.monitor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CacheConfig",
    "CallbackOutput",
    "CallbackOutputTypeEnum",
    "CallbackStep",
    "CheckJobConfig",
    "Condition",
    "ConditionEquals",
    "ConditionGreaterThan",
    "ConditionGreaterThanOrEqualTo",
    "ConditionIn",
    "ConditionLessThan",
    "ConditionLessThanOrEqualTo",
    "ConditionNot",
    "ConditionOr",
    "ConditionStep",
    "DataQualityCheckConfig",
    "DelayedReturn",
    "ExecutionVariables",
    "FailStep",
    "Join",
    "JsonGet",
    "Lambda",
    "LambdaOutput",
    "LambdaOutputTypeEnum",
    "LambdaStep",
    "ModelQualityCheckConfig",
    "ModelStep",
    "MonitorBatchTransformStep",
    "ParallelismConfiguration",
    "Parameter",
    "ParameterBoolean",
    "ParameterFloat",
    "ParameterInteger",
    "ParameterString",
    "Pipeline",
    "PipelineExecution",
    "PipelineSession",
    "ProcessingStep",
    "Properties",
    "PropertyFile",
    "QualityCheckStep",
    "RegisterModel",
    "RetryPolicy",
    "SageMakerJobStepRetryPolicy",
    "Step",
    "StepCollection",
    "StepExceptionType",
    "StepRetryPolicy",
    "TrainingStep",
    "TransformStep",
    "TuningStep",
    "load_pipeline",
    "step",
]
