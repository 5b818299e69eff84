"""Request values through the project's one checker (``stackyard._checks``).

Query and path values arrive as text and are checked here, not by FastAPI's own coercion
(which would take ``١`` for 1 and ``nan`` for a number): a bad value is a ``UsageError``
naming it, answered 400 like every other usage mistake.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from stackyard import _checks
from stackyard.errors import UsageError

MAX_PAGE = 1000


def name(kind: str, value: str) -> str:
    return _checks.check_name(value, kind)


def run_id(value: str) -> str:
    return _checks.check_run_id(value)


def limit(value: str | None, default: int = 50) -> int:
    if value is None:
        return default
    return int(_checks.check_number(value, "limit", lo=1, hi=MAX_PAGE, integer=True))


def offset(value: str | None) -> int:
    if value is None:
        return 0
    return int(_checks.check_number(value, "offset", lo=0, hi=10**9, integer=True))


def integer(value: str, what: str, lo: int = 1, hi: int = 10**9) -> int:
    return int(_checks.check_number(value, what, lo=lo, hi=hi, integer=True))


def epoch(value: str | None, what: str) -> float | None:
    """A time as epoch seconds (what every ``*_time`` field of the API holds)."""
    if value is None:
        return None
    return float(_checks.check_number(value, what, lo=0, hi=10**11))


def choice(value: str | None, what: str, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise UsageError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def flag(value: str | None, what: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise UsageError(f"{what} {value!r}: write true or false")


def who(value: Any, header: str | None) -> str:
    """The caller's name as it goes into an audit trail: given in the body (``who``) or the
    ``X-Stackyard-User`` header, marked as given over HTTP."""
    given = value if value is not None else header
    if given is None:
        raise UsageError("say who you are: a \"who\" field in the body or an "
                         "X-Stackyard-User header (it is recorded with the change)")
    return f"{_checks.check_person(given)} (via HTTP API)"


class Open(BaseModel):
    """A documented answer that may carry more fields than it names."""

    model_config = ConfigDict(extra="allow")


class Body(BaseModel):
    """A request body: unknown fields are refused (a typo is not silently ignored)."""

    model_config = ConfigDict(extra="forbid")
