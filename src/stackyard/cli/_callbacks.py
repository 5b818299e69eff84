"""``stackyard callback ...``: take the messages of callback steps and answer them (what a
worker does with SQS and ``SendPipelineExecutionStepSuccess|Failure`` on AWS)."""

from __future__ import annotations

import json
from typing import Any

import click

from stackyard.cli._args import json_option, number
from stackyard.cli._remote import api, remote
from stackyard.cli._render import out, print_json, status, table, when
from stackyard.errors import UsageError


@click.group()
def callback() -> None:
    """Answer the callback steps pipelines wait on."""


def _table(rows: list[dict[str, Any]]) -> None:
    table(["token", "queue", "run", "step", "status", "created", "arguments"],
          [[r["token"], r["queue"], r["run_id"], r["step"], status(r["status"]),
            when(r["created_at"]), json.dumps(r["arguments"])] for r in rows])


@callback.command("receive")
@click.argument("queue")
@click.option("--wait", "wait", type=number("--wait", lo=0, hi=20), default=0,
              help="Seconds to wait for a message (0..20, as SQS).")
@click.option("--visibility", type=number("--visibility", lo=0, hi=43200), default=30,
              show_default=True, help="Seconds the messages stay hidden from other receivers.")
@click.option("--max", "max_", type=number("--max", lo=1, hi=10, integer=True), default=1,
              show_default=True, help="At most this many messages (1..10).")
@json_option
def receive(queue: str, wait: float, visibility: float, max_: int, json_: bool) -> None:
    """Take waiting messages from QUEUE (hidden from other receivers for a while)."""
    from stackyard.callbacks._api import entry, receive

    rows = [entry(r) for r in receive(queue, max_, wait, visibility)]
    if json_:
        print_json(rows)
        return
    _table(rows)


@callback.command("list")
@click.option("--waiting", is_flag=True, help="Only callbacks not answered yet.")
@json_option
def list_(waiting: bool, json_: bool) -> None:
    """Callbacks of every run, newest first."""
    if (server := remote()) is not None:
        rows = server.get(api("callbacks"), waiting=str(waiting).lower())
    else:
        from stackyard.callbacks import list_callbacks

        rows = list_callbacks(waiting)
    if json_:
        print_json(rows)
        return
    _table(rows)


def _pair(text: str) -> dict[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise UsageError(f"--output {text!r}: write NAME=VALUE")
    return {"Name": name, "Value": value}


@callback.command("succeed")
@click.argument("token")
@click.option("--output", "outputs", multiple=True, metavar="NAME=VALUE",
              help="A declared output's value (repeat for each output).")
def succeed(token: str, outputs: tuple[str, ...]) -> None:
    """Answer TOKEN: its step succeeds with these outputs."""
    if (server := remote()) is not None:
        pairs = [_pair(o) for o in outputs]
        given = {p["Name"]: p["Value"] for p in pairs}
        if len(given) < len(pairs):
            raise UsageError("an output is given twice")
        r = server.post(api("callbacks", token, "success"), {"outputs": given})
        out.print(f"callback {token} answered: succeeded (run {r['run_id']})")
        return
    from stackyard.callbacks import send_pipeline_execution_step_success

    r = send_pipeline_execution_step_success(CallbackToken=token,
                                             OutputParameters=[_pair(o) for o in outputs])
    out.print(f"callback {token} answered: succeeded (run {r['PipelineExecutionArn']})")


@callback.command("fail")
@click.argument("token")
@click.option("--reason", required=True, help="Why the step fails.")
def fail(token: str, reason: str) -> None:
    """Answer TOKEN: its step fails with REASON."""
    if (server := remote()) is not None:
        r = server.post(api("callbacks", token, "failure"), {"reason": reason})
        out.print(f"callback {token} answered: failed (run {r['run_id']})")
        return
    from stackyard.callbacks import send_pipeline_execution_step_failure

    r = send_pipeline_execution_step_failure(CallbackToken=token, FailureReason=reason)
    out.print(f"callback {token} answered: failed (run {r['PipelineExecutionArn']})")
