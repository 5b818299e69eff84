"""The AWS Step Functions Data Science SDK's builders, run by stackyard.

A notebook written for ``stepfunctions`` ports by changing imports::

    from stackyard.states.sdk import (Chain, ChoiceRule, ExecutionInput, Parallel, Retry,
                                      Catch, TrainingStep, ModelStep, Workflow)

Every class compiles to the Amazon States Language JSON the SDK produces for the same calls
(``Graph(chain).to_dict()``, ``state.to_json()``); ``Workflow.create()``/``execute()`` store
and run it with ``stackyard.states``. Where the local run needs another shape (code stays
on disk, so ``sagemaker_submit_directory`` is a ``file://`` folder) the module docstrings of
``_sdk_tasks`` say so.
"""

from stackyard.states._sdk_blocks import (
    BaseRule,
    Catch,
    Chain,
    Choice,
    ChoiceRule,
    CompoundRule,
    ExecutionInput,
    Fail,
    FrozenGraph,
    Graph,
    Map,
    NotRule,
    Parallel,
    Pass,
    Placeholder,
    Retry,
    Rule,
    State,
    StepInput,
    Succeed,
    Task,
    Wait,
)
from stackyard.states._sdk_tasks import (
    LambdaStep,
    ModelStep,
    ProcessingStep,
    SnsPublishStep,
    TrainingStep,
    TransformStep,
)
from stackyard.states._sdk_workflow import Execution, Workflow

__all__ = [
    "BaseRule",
    "Catch",
    "Chain",
    "Choice",
    "ChoiceRule",
    "CompoundRule",
    "Execution",
    "ExecutionInput",
    "Fail",
    "FrozenGraph",
    "Graph",
    "LambdaStep",
    "Map",
    "ModelStep",
    "NotRule",
    "Parallel",
    "Pass",
    "Placeholder",
    "ProcessingStep",
    "Retry",
    "Rule",
    "SnsPublishStep",
    "State",
    "StepInput",
    "Succeed",
    "Task",
    "TrainingStep",
    "TransformStep",
    "Wait",
    "Workflow",
]
