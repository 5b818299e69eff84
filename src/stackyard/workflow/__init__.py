"""DEFINE: the SageMaker-named pipeline SDK. Pure data; compiles to a JSON definition."""

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
    TrainingStep,
    TuningStep,
)

__all__ = [
    "CacheConfig",
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
    "DelayedReturn",
    "ExecutionVariables",
    "FailStep",
    "Join",
    "JsonGet",
    "ModelStep",
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
    "RegisterModel",
    "RetryPolicy",
    "SageMakerJobStepRetryPolicy",
    "Step",
    "StepExceptionType",
    "StepRetryPolicy",
    "TrainingStep",
    "TuningStep",
    "step",
]
