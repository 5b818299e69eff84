"""Choice rules (work in progress: signature first)."""

from __future__ import annotations

from typing import Any


def next_state(state: dict, data: Any) -> str:
    """The name of the state a Choice state goes to."""
    raise NotImplementedError
