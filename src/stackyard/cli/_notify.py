"""``stackyard channels ...`` and ``stackyard notifications list``: where notifications go
and what was sent."""

from __future__ import annotations

import json

import click

from stackyard.cli._args import json_option, limit_option
from stackyard.cli._render import out, print_json, status, table, when


@click.group()
def channels() -> None:
    """Notification channels: a webhook, an e-mail address, or the log."""


@channels.command("create")
@click.argument("name")
@click.option("--webhook", metavar="URL", help="POST each notification as JSON to URL.")
@click.option("--email", metavar="ADDRESS", help="Send each notification by e-mail.")
@click.option("--smtp", metavar="HOST:PORT",
              help="SMTP server for --email (default: STACKYARD_SMTP_HOST/PORT, localhost:25).")
@click.option("--log", "log", is_flag=True,
              help="Write each notification to $STACKYARD_HOME/notifications.log.")
@json_option
def create(name: str, webhook: str | None, email: str | None, smtp: str | None, log: bool,
           json_: bool) -> None:
    """Create channel NAME (rules send to it with `--then notify NAME`)."""
    from stackyard.notify import create_channel

    row = create_channel(name, webhook=webhook, email=email, log=log, smtp=smtp)
    if json_:
        print_json(row)
        return
    out.print(f"channel {row['name']}: {row['kind']} {row['target']}", markup=False)


@channels.command("list")
@json_option
def list_(json_: bool) -> None:
    """Every channel (a webhook is shown without its path: that is often its secret)."""
    from stackyard.notify import list_channels

    rows = list_channels()
    if json_:
        print_json(rows)
        return
    table(["name", "kind", "target", "created"],
          [[r["name"], r["kind"], r["target"], when(r["created_at"])] for r in rows])


@channels.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete channel NAME (notifications already sent stay listed)."""
    from stackyard.notify import delete_channel

    delete_channel(name)
    out.print(f"channel {name} deleted", markup=False)


@click.group()
def notifications() -> None:
    """What was sent through the channels, and whether it arrived."""


@notifications.command("list")
@click.option("--channel", help="Only this channel's notifications.")
@click.option("--status", "status_", type=click.Choice(["Pending", "Delivered", "Failed"]),
              help="Only notifications in this state.")
@limit_option
@json_option
def list_notifications_(channel: str | None, status_: str | None, limit: int,
                        json_: bool) -> None:
    """Notifications newest first."""
    from stackyard.notify import list_notifications

    rows = list_notifications(channel, status_, limit)
    if json_:
        print_json(rows)
        return
    table(["id", "channel", "status", "attempts", "created", "subject / message", "error"],
          [[r["id"][:8], r["channel"], status(r["status"]), r["attempts"],
            when(r["created_at"]),
            (r["subject"] or (r["message"] if isinstance(r["message"], str)
                              else json.dumps(r["message"])))[:60],
            r["last_error"] or ""] for r in rows])
