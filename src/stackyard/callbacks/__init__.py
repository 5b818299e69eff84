"""CALLBACKS: a pipeline's ``CallbackStep`` hands work to the outside world and waits,
durably, for the answer (see ``_step``). The outside world takes messages from a local
queue and answers with SageMaker's (and SQS's) names, here or through
``stackyard callback``."""

from stackyard.callbacks._api import (
    list_callbacks,
    receive_messages,
    send_pipeline_execution_step_failure,
    send_pipeline_execution_step_success,
)

__all__ = ["list_callbacks", "receive_messages", "send_pipeline_execution_step_failure",
           "send_pipeline_execution_step_success"]
