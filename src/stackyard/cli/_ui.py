"""``stackyard ui``: the web UI (and the JSON API) without the scheduler loop."""

from __future__ import annotations

from pathlib import Path

import click

from stackyard.cli._args import HOST, PORT


@click.command()
@click.option("--host", type=HOST, default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond loopback a --token-file is required.")
@click.option("--port", type=PORT, default=8300, show_default=True, help="TCP port.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Ask browsers to sign in with the file's first line (API callers send "
                   "it as Authorization: Bearer).")
def ui(host: str, port: int, token_file: Path | None) -> None:
    """Serve the web UI at http://HOST:PORT/ui until SIGTERM or Ctrl-C. Schedules, rules
    and notifications are not run: that is `stackyard server`, which serves the UI too."""
    from stackyard.server import serve

    serve(host, port, str(token_file) if token_file is not None else None, with_loop=False)
