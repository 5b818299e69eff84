"""STATES: Amazon States Language state machines, run locally and durably.

``StateMachine.create(name, definition)`` validates a definition as ``CreateStateMachine``
does; ``.start_execution(input)`` runs it (see ``_executor`` for how an execution survives a
kill -9); task resources map onto stackyard's jobs, Lambda function registry and
notifications (``_tasks``).
"""

from stackyard.states._api import (
    Execution,
    StateMachine,
    create_state_machine,
    describe_execution,
    describe_state_machine,
    get_execution_history,
    list_executions,
    list_state_machines,
    resume_detached,
    resume_execution,
    send_task_failure,
    send_task_heartbeat,
    send_task_success,
    start_execution,
    stop_execution,
)
from stackyard.states._errors import DefinitionError, StatesError

__all__ = [
    "DefinitionError",
    "Execution",
    "StateMachine",
    "StatesError",
    "create_state_machine",
    "describe_execution",
    "describe_state_machine",
    "get_execution_history",
    "list_executions",
    "list_state_machines",
    "resume_detached",
    "resume_execution",
    "send_task_failure",
    "send_task_heartbeat",
    "send_task_success",
    "start_execution",
    "stop_execution",
]
