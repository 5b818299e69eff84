"""``Workflow`` and ``Execution`` of the Data Science SDK (``stepfunctions.workflow``), over
stackyard's own state machines (``stackyard.states.StateMachine``) instead of the AWS API.

``Workflow(name, definition).create()`` stores the state machine and returns its ARN (an
existing one is left as it is: ``update()`` stores a new version); ``execute(inputs=...)``
checks the input against ``execution_input``'s schema, as the SDK does, and starts the
execution in a process of its own, returning at once; ``get_output(wait=True)`` waits.
"""

from __future__ import annotations

import json
from typing import Any

from stackyard._checks import check_name
from stackyard.errors import DefinitionError, NotFoundError, UsageError
from stackyard.states._sdk_blocks import Chain, ExecutionInput, FrozenGraph, Graph, State


def _machines() -> Any:
    from stackyard.states import _api

    return _api


class Execution:
    """One execution: ``describe()``, ``get_input()``, ``get_output(wait=...)``,
    ``list_events()``, ``stop()``."""

    def __init__(self, workflow: Workflow, handle: Any) -> None:
        self.workflow = workflow
        self._handle = handle
        self.execution_arn: str = handle.arn

    def describe(self) -> dict[str, Any]:
        return self._handle.describe()

    @property
    def status(self) -> str:
        return self.describe()["status"]

    def get_input(self) -> Any:
        return json.loads(self.describe()["input"])

    def get_output(self, wait: bool = False) -> Any:
        """The output once the execution succeeded (``None`` before, or if it failed);
        ``wait=True`` blocks until it ends."""
        if wait:
            self._handle.wait()
        out = self.describe().get("output")
        return None if out is None else json.loads(out)

    def list_events(self, max_items: int = 100, reverse_order: bool = False) -> list[Any]:
        events = self._handle.history()
        events = events[::-1] if reverse_order else events
        return events[:max_items]

    def stop(self, cause: str | None = None, error: str | None = None) -> Any:
        return self._handle.stop(error=error, cause=cause)

    def __repr__(self) -> str:
        return f"Execution(execution_arn={self.execution_arn!r})"


class Workflow:
    """A state machine made of SDK states. ``role``, ``tags`` and ``client`` are accepted
    and ignored (they only mean something on AWS)."""

    def __init__(self, name: str, definition: State | Chain | Graph, role: str | None = None,
                 tags: Any = None, execution_input: ExecutionInput | None = None,
                 timeout_seconds: int | None = None, comment: str | None = None,
                 version: str | None = None, state_machine_arn: str | None = None,
                 format_json: bool = True, client: Any = None) -> None:
        try:
            check_name(name, "state machine")
        except UsageError as e:
            raise DefinitionError(str(e)) from None
        self.name, self.role, self.tags = name, role, tags
        self.timeout_seconds, self.comment, self.version = timeout_seconds, comment, version
        self.definition = definition if isinstance(definition, Graph) else Graph(
            definition, timeout_seconds=timeout_seconds, comment=comment, version=version)
        self.workflow_input = execution_input
        self.format_json = format_json
        self.state_machine_arn = state_machine_arn

    @classmethod
    def attach(cls, state_machine_arn: str, client: Any = None) -> Workflow:
        """The stored state machine named by its ARN (or name), with its definition."""
        machine = _machines().StateMachine(state_machine_arn)
        return cls(name=machine.name, definition=FrozenGraph.from_json(
            machine.describe()["definition"]), state_machine_arn=machine.arn)

    def create(self) -> str:
        """Store the state machine and return its ARN; if it exists already, its ARN
        (use ``update()`` to change it), as the SDK does."""
        if self.state_machine_arn is None:
            api = _machines()
            try:
                api.StateMachine(self.name).describe()
            except NotFoundError:
                api.StateMachine.create(self.name, self.definition.to_dict())
            self.state_machine_arn = api.StateMachine(self.name).arn
        return self.state_machine_arn

    def update(self, definition: State | Chain | Graph | None = None,
               role: str | None = None) -> str:
        """Store a new definition (a new version) for this existing state machine."""
        if definition is None and role is None:
            raise DefinitionError("update() needs a new definition (or role)")
        if self.state_machine_arn is None:
            raise UsageError(f"workflow {self.name!r} does not exist yet; call create()")
        if definition is not None:
            self.definition = definition if isinstance(definition, Graph) else Graph(
                definition, timeout_seconds=self.timeout_seconds, comment=self.comment,
                version=self.version)
            _machines().StateMachine(self.state_machine_arn).update(self.definition.to_dict())
        self.role = role or self.role
        return self.state_machine_arn

    def execute(self, name: str | None = None, inputs: Any = None) -> Execution:
        """Start an execution with ``inputs`` (checked against ``execution_input``'s schema)
        and return it at once; ``get_output(wait=True)`` waits for the end."""
        if self.workflow_input is not None:
            valid, missing, wrong = self.workflow_input.validate(inputs)
            if not valid:
                raise UsageError(f"workflow {self.name!r}: the input must have the schema "
                                 f"{self.workflow_input.get_schema_as_json()} (missing: "
                                 f"{missing}; wrong types: {[w[0] for w in wrong]})")
        if self.state_machine_arn is None:
            raise UsageError(f"workflow {self.name!r} does not exist yet; call create() "
                             "before execute()")
        machine = _machines().StateMachine(self.state_machine_arn)
        return Execution(self, machine.start_execution(inputs if inputs is not None else {},
                                                       name=name, wait=False))

    def list_executions(self, max_items: int = 100, status_filter: str | None = None
                        ) -> list[Any]:
        machine = _machines().StateMachine(self.state_machine_arn or self.name)
        return machine.list_executions(status_filter)[:max_items]

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, state_machine_arn={self.state_machine_arn!r})"
