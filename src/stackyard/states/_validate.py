"""Definition validation as CreateStateMachine does it (work in progress: signature first)."""

from __future__ import annotations

from collections.abc import Callable


def validate(definition: str | dict, *, supported_resource: Callable[[str], bool]) -> dict:
    """The parsed definition, or DefinitionError naming the state and field."""
    raise NotImplementedError
