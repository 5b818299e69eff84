"""Polling with a deadline and a free loopback port: what tests that start real processes and
servers share. A module of its own, not ``conftest`` (several test folders have one)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
               interval: float = 0.05) -> Any:
    """``pred()``'s first truthy value; an ``AssertionError`` naming ``what`` after
    ``timeout`` seconds (no fixed sleeps: the test waits exactly as long as it must)."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
