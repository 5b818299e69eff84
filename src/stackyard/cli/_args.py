"""Typed CLI arguments that go through ``stackyard._checks`` at parse time.

Typer's own ``int`` accepts ``١`` (Arabic-Indic one) and numbers SQLite cannot hold, and a
plain ``str`` lets ``../..`` reach the filesystem; these ``Annotated`` aliases parse with
the project's one checker instead, so every command refuses the same junk the same way
(``UsageError``: one line, exit 2) before its body runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stackyard import _checks
from stackyard.errors import UsageError

MAX_LIMIT = 1_000_000


def _limit(value: str) -> int:
    return int(_checks.check_number(value, "--limit", lo=1, hi=MAX_LIMIT, integer=True))


def _port(value: str) -> int:
    return int(_checks.check_number(value, "--port", lo=1, hi=65535, integer=True))


def _host(value: str) -> str:
    return _checks.check_host(value, "--host")


def name_of(kind: str, value: str) -> str:
    """``value`` checked as a ``kind`` name (``_checks.NAME_RULES``)."""
    return _checks.check_name(value, kind)


def model_ref(value: str) -> str:
    """``GROUP/VERSION`` normalised (``g/007`` -> ``g/7``); anything else is refused."""
    group, version = _checks.parse_model_ref(value)
    return f"{group}/{version}"


def check_run_id(value: str) -> str:
    """Run ids are ``YYYYMMDD-HHMMSS-xxxxxx``; anything with a path separator, a control
    character or non-ASCII text cannot be one."""
    if not value or not value.isascii() or not value.replace("-", "").isalnum():
        raise UsageError(f"run id {value!r}: write an id from `stackyard runs list`")
    return value


JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LIMIT = Annotated[int, typer.Option("--limit", parser=_limit, metavar="N",
                                    help=f"At most N rows (1..{MAX_LIMIT}).")]
PORT = Annotated[int, typer.Option("--port", parser=_port, metavar="PORT",
                                   help="TCP port, 1..65535.")]
OPTIONAL_PORT = Annotated[int | None, typer.Option("--port", parser=_port, metavar="PORT",
                                                   help="TCP port (default: a free one).")]
HOST = Annotated[str, typer.Option("--host", parser=_host, metavar="ADDRESS",
                                   help="Bind address (an IP address or host name).")]


def number(flag: str, help: str, *, lo: float | None = None, hi: float | None = None,
           integer: bool = False) -> Any:
    """A ``typer.Option`` for a number parsed by ``_checks.check_number`` (finite, ASCII
    digits, within ``[lo, hi]``): typer's ``float`` takes ``nan`` and ``inf``."""
    def parse(value: str) -> float | int:
        return _checks.check_number(value, flag, lo=lo, hi=hi, integer=integer)

    return typer.Option(flag, parser=parse, metavar="INTEGER" if integer else "NUMBER",
                        help=help)
