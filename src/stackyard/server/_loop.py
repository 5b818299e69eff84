"""The one hook where the server starts its background work: ``stackyard.triggers.serve``
(schedules, event rules, notification deliveries) in a thread of its own.

The loop's owner name (host and pid) is what its leases in the store carry, so another
server on the same store sees whose they are; ``stop`` ends it, and it releases them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger("stackyard.server")


def owner_name() -> str:
    return f"server:{socket.gethostname()}:{os.getpid()}"


def start_loop(stop: threading.Event) -> threading.Thread | None:
    """Start the triggers loop, or None when this installation has none."""
    try:
        from stackyard.triggers import serve
    except ImportError:
        log.warning("no stackyard.triggers.serve in this installation: schedules and rules "
                    "are not run by this server")
        return None

    def target() -> None:
        try:
            serve(stop, owner=owner_name())
        except Exception:  # a crashed loop is logged; the API keeps serving
            log.exception("the triggers loop stopped with an error")

    thread = threading.Thread(target=target, name="stackyard-triggers", daemon=True)
    thread.start()
    return thread
