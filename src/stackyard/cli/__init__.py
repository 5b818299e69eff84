"""The ``stackyard`` command: thin, one module per noun; logic lives in the packages."""

from __future__ import annotations

import sys

import typer

from stackyard.cli._endpoints import endpoints, serve
from stackyard.cli._models import models
from stackyard.cli._pipelines import pipelines
from stackyard.cli._render import err
from stackyard.cli._runs import run, runs
from stackyard.cli._tuning import tuning
from stackyard.errors import StackyardError, UsageError

app = typer.Typer(help="stackyard: SageMaker-style ML pipelines on your own machine.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command()(run)
app.add_typer(runs, name="runs")
app.add_typer(pipelines, name="pipelines")
app.add_typer(tuning, name="tuning")
app.add_typer(models, name="models")
app.add_typer(endpoints, name="endpoints")
app.command()(serve)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except StackyardError as e:
        err.print(f"[red]error:[/] {e}", markup=True)
        sys.exit(2 if isinstance(e, UsageError) else 1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # usage errors of typer's click
            e.show()
            sys.exit(e.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
