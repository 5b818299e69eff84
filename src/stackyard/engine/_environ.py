"""Environment variables for a ``@step`` function while it runs in the engine process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# os.environ belongs to the whole process: functions that set variables take turns.
_LOCK = threading.Lock()


@contextmanager
def scoped_environ(env: dict[str, Any] | None) -> Iterator[None]:
    """Set ``env`` for the duration of the block, then restore what was there before.
    With no variables to set this costs nothing (no lock)."""
    if not env:
        yield
        return
    with _LOCK:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update({k: "true" if v is True else "false" if v is False else str(v)
                           for k, v in env.items()})
        try:
            yield
        finally:
            for k, old in saved.items():
                if old is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = old
