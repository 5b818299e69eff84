"""``CallbackStep``, ``CallbackOutput`` and ``CallbackOutputTypeEnum``: a step that hands
work to the outside world and waits for its answer (the engine's ``Callback`` type,
``stackyard.callbacks``).

``sqs_queue_url`` names a local durable queue (text or a pipeline parameter); the step puts
SageMaker's message there and the run waits, surviving its runner, until someone answers
with ``stackyard callback succeed|fail`` or ``stackyard.callbacks``. Each ``CallbackOutput``
is read from the answer (``step.properties.Outputs["name"]``). ``timeout`` (seconds, 7 days
by default as SageMaker's limit) fails an unanswered step with ``Timeout``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from stackyard._checks import check_number
from stackyard.errors import DefinitionError, UsageError
from stackyard.workflow._expr import Properties, to_json
from stackyard.workflow._outputs import TypedOutput
from stackyard.workflow._policies import CacheConfig
from stackyard.workflow._steps import Step


class CallbackOutputTypeEnum(Enum):
    """The type a callback output is converted to (and checked against)."""

    String = "String"
    Integer = "Integer"
    Boolean = "Boolean"
    Float = "Float"


class CallbackOutput(TypedOutput):
    """One output of a ``CallbackStep``: its name in the answer, and its type."""

    enum = CallbackOutputTypeEnum


class _CallbackProperties(Properties):
    """``properties.Outputs["name"]``, as in the SDK, is ``OutputParameters['name']``."""

    def __init__(self, step: CallbackStep) -> None:
        super().__init__(step)
        object.__setattr__(self, "Outputs", {
            o.output_name: Properties(step, f"OutputParameters['{o.output_name}']")
            for o in step.outputs})


class CallbackStep(Step):
    """Puts ``inputs`` (pipeline variables resolved) on ``sqs_queue_url`` with a token and
    waits for ``send_pipeline_execution_step_success|failure`` on that token."""

    step_type = "Callback"

    def __init__(
        self,
        name: str,
        sqs_queue_url: Any,
        inputs: dict[str, Any],
        outputs: list[CallbackOutput],
        display_name: str | None = None,
        description: str | None = None,
        cache_config: CacheConfig | None = None,
        depends_on: list[Any] | None = None,
        timeout: float = 7 * 24 * 3600,
    ) -> None:
        super().__init__(name, display_name, description, depends_on, None, cache_config)
        if sqs_queue_url is None or sqs_queue_url == "":
            raise DefinitionError(f"CallbackStep {name!r} needs sqs_queue_url (a queue name)")
        self.sqs_queue_url = sqs_queue_url
        self.inputs = dict(inputs or {})
        self.outputs = list(outputs or [])
        names = [o.output_name for o in self.outputs]
        if len(set(names)) != len(names):
            raise DefinitionError(f"CallbackStep {name!r}: an output is declared twice "
                                  f"({', '.join(names)})")
        try:
            self.timeout = float(check_number(timeout, "callback timeout (seconds)", lo=0,
                                              lo_open=True))
        except UsageError as e:
            raise DefinitionError(f"CallbackStep {name!r}: {e}") from None

    @property
    def properties(self) -> Properties:
        return _CallbackProperties(self)

    def arguments(self) -> Any:
        return self.inputs

    def extra(self) -> dict[str, Any]:
        return {"SqsQueueUrl": to_json(self.sqs_queue_url),
                "OutputParameters": [o.to_request() for o in self.outputs],
                "Timeout": self.timeout}
