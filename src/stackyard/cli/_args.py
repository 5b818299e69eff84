"""CLI arguments that go through ``stackyard._checks`` at parse time.

Click's own ``INT`` accepts ``١`` (Arabic-Indic one) and numbers SQLite cannot hold,
``FLOAT`` accepts ``nan`` and ``inf``, and a plain string lets ``../..`` reach the
filesystem. These types and options parse with the project's one checker instead, so every
command refuses the same junk the same way (``UsageError``: one line, exit 2) before its
body runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from stackyard import _checks

MAX_LIMIT = 1_000_000


class Checked(click.ParamType):
    """A click type whose conversion is a ``_checks`` function (which raises ``UsageError``,
    handled by ``stackyard.cli.run_cli``)."""

    def __init__(self, name: str, check: Callable[[str], Any]) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        return self._check(value) if isinstance(value, str) else value


def number(what: str, *, lo: float | None = None, hi: float | None = None,
           integer: bool = False, lo_open: bool = False) -> Checked:
    """A finite number within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``) in ASCII digits."""
    return Checked("integer" if integer else "number", lambda v: _checks.check_number(
        v, what, lo=lo, hi=hi, integer=integer, lo_open=lo_open))


def name_of(kind: str, value: str) -> str:
    """``value`` checked as a ``kind`` name (``_checks.NAME_RULES``)."""
    return _checks.check_name(value, kind)


def model_ref(value: str) -> str:
    """``GROUP/VERSION`` normalised (``g/007`` -> ``g/7``); anything else is refused."""
    group, version = _checks.parse_model_ref(value)
    return f"{group}/{version}"


def name_type(kind: str) -> Checked:
    return Checked(kind.replace(" ", "-"), lambda v: name_of(kind, v))


RUN_ID = Checked("run-id", _checks.check_run_id)
MODEL_REF = Checked("group/version", model_ref)
PORT = number("--port", lo=1, hi=65535, integer=True)
HOST = Checked("address", lambda v: _checks.check_host(v, "--host"))

json_option = click.option("--json", "json_", is_flag=True,
                           help="Print JSON instead of a table.")
limit_option = click.option("--limit", type=number("--limit", lo=1, hi=MAX_LIMIT, integer=True),
                            default=50, show_default=True,
                            help=f"At most this many rows (1..{MAX_LIMIT}).")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Hide job logs.")


def backend_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--backend local|ray``, ``--address`` and ``--resources`` (where jobs run)."""
    f = click.option("--resources", metavar="JSON", default=None,
                     help='Ray resources per instance type, e.g. \'{"*": {"CPU": 1}}\' '
                          "(default: the instance type table; STACKYARD_RAY_RESOURCES).")(f)
    f = click.option("--address", metavar="ADDRESS", default=None,
                     help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                          "(default: STACKYARD_RAY_ADDRESS, else auto).")(f)
    return click.option("--backend", type=click.Choice(["local", "ray"]), default=None,
                        help="Where jobs run (default: STACKYARD_BACKEND, else local).")(f)


def choose_backend(backend: str | None, address: str | None, resources: str | None) -> None:
    """Check and select the backend before anything runs (exit 2 if it cannot work)."""
    from stackyard import _home

    if backend or address or resources or _home.backend_settings()["backend"]:
        from stackyard.runtime import use_backend

        use_backend(backend, address, resources)
