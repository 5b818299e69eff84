"""``stackyard server``: the long-running process (API, schedules, rules, notifications)."""

from __future__ import annotations

from pathlib import Path

import click

from stackyard.cli._args import HOST, PORT


@click.command()
@click.option("--host", type=HOST, default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond loopback a --token-file is required.")
@click.option("--port", type=PORT, default=8300, show_default=True, help="TCP port.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Require Authorization: Bearer <the file's first line> on every request.")
def server(host: str, port: int, token_file: Path | None) -> None:
    """Serve the HTTP API (docs at /docs) and run schedules, rules and notifications,
    until SIGTERM or Ctrl-C (in-flight requests finish first)."""
    from stackyard.server import serve

    serve(host, port, str(token_file) if token_file is not None else None)
