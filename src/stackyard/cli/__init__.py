"""The ``stackyard`` command: thin, one module per noun; logic lives in the packages.

Every command module imports its domain code inside the command functions, so a read
command pays only for what it reads (``import stackyard.cli`` loads no numpy, pandas,
scikit-learn, optuna or fastapi). ``main`` is the one place that turns an exception into an
exit status: a usage mistake is one line on stderr and exit 2, an unexpected error one line
and exit 1 (``STACKYARD_DEBUG=1`` shows its traceback), never a bare traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from stackyard.cli._callbacks import callback
from stackyard.cli._endpoints import endpoints, serve
from stackyard.cli._models import models
from stackyard.cli._monitor import monitor
from stackyard.cli._notify import channels, notifications
from stackyard.cli._pipelines import pipelines
from stackyard.cli._rules import rules
from stackyard.cli._runs import run, runs
from stackyard.cli._schedules import schedules
from stackyard.cli._server import server
from stackyard.cli._states import states
from stackyard.cli._tuning import tuning
from stackyard.cli._ui import ui
from stackyard.errors import StackyardError, UsageError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """stackyard: SageMaker-style ML pipelines on your own machine."""


for _command in (run, runs, pipelines, tuning, models, endpoints, serve, monitor,
                 callback, schedules, rules, channels, notifications, server, states, ui):
    app.add_command(_command)

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {10: "\\n", 13: "\\r", 9: "\\t"}


def one_line(text: object) -> str:
    """``text`` on one printable line: control characters escaped, undecodable bytes shown
    as ``\\xNN`` (a message may quote user input verbatim)."""
    s = str(text).translate(_CONTROL)
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _fail(message: object, code: int) -> int:
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    return code


def _check_utf8(args: Sequence[str]) -> None:
    """Arguments that are not UTF-8 reach Python as lone surrogates, which SQLite, JSON
    files and HTTP cannot carry: refuse them before any command sees them."""
    for a in args:
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"argument {os.fsencode(a)!r} is not valid UTF-8 text") from None


def run_cli(args: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit status (what ``main`` exits with)."""
    from stackyard import _home

    args = list(sys.argv[1:] if args is None else args)
    try:
        _check_utf8(args)
        code = app.main(args=args, prog_name="stackyard", standalone_mode=False)
    except UsageError as e:
        return _fail(e, 2)
    except StackyardError as e:
        return _fail(e, 1)
    except click.exceptions.Exit as e:
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        return 130
    except click.exceptions.NoArgsIsHelpError as e:  # `stackyard runs`: the group's help
        e.show()
        return e.exit_code
    except click.ClickException as e:  # a bad option, a missing argument, an unknown command
        return _fail(e.format_message(), e.exit_code)
    except Exception as e:  # noqa: BLE001 - the one place an unexpected error is reported
        if _home.debug():
            import traceback

            traceback.print_exc()
        return _fail(f"internal error: {type(e).__name__}: {e} (run with STACKYARD_DEBUG=1 "
                     "for the traceback)", 1)
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run_cli())
