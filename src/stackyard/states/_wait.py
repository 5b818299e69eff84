"""Wait states (work in progress: signature first)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def wait_until(state: dict, data: Any, now: datetime) -> datetime:
    """When a Wait state ends."""
    raise NotImplementedError
