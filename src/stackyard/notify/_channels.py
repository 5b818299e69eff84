"""Notification channels: a name for where messages go (a webhook, an e-mail address, or
stackyard's own log). A topic ARN's last part names a channel, so a state machine's
``sns:publish`` and a rule's ``--then notify NAME`` reach the same place."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from stackyard._checks import check_host, check_name, check_number, check_url
from stackyard.errors import NotFoundError, UsageError
from stackyard.store import open_store

WEBHOOK, EMAIL, LOG = "webhook", "email", "log"
# what SMTP servers accept in practice; the one check that matters is that no header or
# command can be smuggled in (no whitespace, no control characters, no angle brackets)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def channel_name(name: Any) -> str:
    """A channel name, or the last part of an SNS topic ARN (``arn:aws:sns:…:NAME``)."""
    if isinstance(name, str) and name.startswith("arn:"):
        name = name.rsplit(":", 1)[-1]
    return check_name(name, "channel")


def _smtp(value: str | None) -> str | None:
    if value is None:
        return None
    if "@" in value:  # USER:PASSWORD@HOST:PORT: never echo it, never store it
        raise UsageError("--smtp takes HOST:PORT only; give the login in "
                         "STACKYARD_SMTP_USER and STACKYARD_SMTP_PASSWORD (never stored)")
    host, sep, port = value.rpartition(":")
    if not sep:
        raise UsageError(f"--smtp {value!r}: write HOST:PORT (e.g. localhost:25)")
    check_host(host.strip("[]"), "--smtp host")
    check_number(port, "--smtp port", lo=1, hi=65535, integer=True)
    return value


def _target(webhook: str | None, email: str | None, log: bool, smtp: str | None
            ) -> tuple[str, dict[str, Any]]:
    given = [k for k, v in ((WEBHOOK, webhook), (EMAIL, email), (LOG, log)) if v]
    if len(given) != 1:
        raise UsageError("give exactly one of --webhook URL, --email ADDRESS or --log")
    if smtp is not None and not email:
        raise UsageError("--smtp HOST:PORT goes with --email only")
    if webhook:
        return WEBHOOK, {"url": check_url(webhook, "--webhook")}
    if email:
        if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
            raise UsageError(f"--email {email!r}: write one address such as ops@example.com")
        return EMAIL, {"address": email, "smtp": _smtp(smtp)}
    return LOG, {}


def shown(kind: str, target: dict[str, Any]) -> str:
    """Where a channel sends, safe to print: a webhook's path and query often hold its
    secret (Slack, Teams), so only scheme and host are shown."""
    if kind == WEBHOOK:
        u = urlparse(target["url"])
        return f"{u.scheme}://{u.hostname}{f':{u.port}' if u.port else ''}/…"
    if kind == EMAIL:
        return target["address"] + (f" via {target['smtp']}" if target.get("smtp") else "")
    return "stackyard log"


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "kind": row["kind"],
            "target": shown(row["kind"], row["target"]), "created_at": row["created_at"]}


def create_channel(name: str, *, webhook: str | None = None, email: str | None = None,
                   log: bool = False, smtp: str | None = None) -> dict[str, Any]:
    """Create channel ``name`` sending to exactly one of ``webhook``, ``email`` or ``log``
    (e-mail goes through ``smtp`` HOST:PORT, else the ``STACKYARD_SMTP_*`` settings)."""
    name = channel_name(name)
    kind, target = _target(webhook, email, log, smtp)
    if not open_store().add_channel(name, kind, target):
        raise UsageError(f"channel {name!r} exists; delete it first or pick another name")
    return describe_channel(name)


def describe_channel(name: str) -> dict[str, Any]:
    row = open_store().get_channel(channel_name(name))
    if row is None:
        raise NotFoundError(f"no channel {name!r}; see `stackyard channels list`")
    return _entry(row)


def list_channels() -> list[dict[str, Any]]:
    return [_entry(r) for r in open_store().list_channels()]


def delete_channel(name: str) -> None:
    if not open_store().delete_channel(channel_name(name)):
        raise NotFoundError(f"no channel {name!r}; see `stackyard channels list`")
