"""``stackyard server``: the app under uvicorn, with a graceful stop.

SIGTERM (or Ctrl-C): stop accepting connections, let requests in flight finish (up to
``GRACE`` seconds; log streams that follow a run end at once), then stop the triggers loop,
which releases its leases, and exit 0. A second Ctrl-C forces the exit.
"""

from __future__ import annotations

import logging
import signal
import socket
from typing import Any

import uvicorn

from stackyard.errors import UsageError
from stackyard.server._app import create_app
from stackyard.server._auth import server_token

GRACE = 10.0
log = logging.getLogger("stackyard.server")


class _Server(uvicorn.Server):
    """uvicorn's server that also tells the app it is draining when a stop is asked, so
    answers that would stay open (``logs?follow=true``) end instead of holding the exit."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        app = self.config.loaded_app
        while app is not None and not hasattr(app, "state"):  # through the middleware
            app = getattr(app, "app", None)
        if app is not None and hasattr(app.state, "draining"):
            app.state.draining.set()
        super().handle_exit(sig, frame)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts (a taken port is a usage error,
    not a log line from inside uvicorn)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


def serve(host: str = "127.0.0.1", port: int = 8300, token_file: str | None = None,
          *, with_loop: bool = True) -> None:
    """Serve until SIGTERM/SIGINT. Everything is checked (token, address) before the port
    is bound and before the store is touched."""
    token = server_token(host, token_file)
    sock = bind(host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = uvicorn.Config(create_app(token=token, with_loop=with_loop), log_level="warning",
                            access_log=False, timeout_graceful_shutdown=GRACE,
                            proxy_headers=False, server_header=False)
    server = _Server(config)
    for sig in (signal.SIGTERM, signal.SIGINT):  # what uvicorn re-raises after its shutdown
        signal.signal(sig, _exit_on_signal)
    where = f"http://{f'[{host}]' if ':' in host else host}:{sock.getsockname()[1]}"
    log.info("stackyard server on %s (API docs: %s/docs; %s)", where, where,
             "token required" if token else "no token: loopback callers only")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
