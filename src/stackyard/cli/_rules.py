"""``stackyard rules ...``: react to events (a model approved, a run failed, drift, a new
file) by running a pipeline, starting a state machine, or notifying a channel."""

from __future__ import annotations

from pathlib import Path

import click

from stackyard.cli._args import json_option
from stackyard.cli._remote import api, remote
from stackyard.cli._render import out, print_json, table
from stackyard.cli._schedules import fires_table
from stackyard.errors import UsageError


@click.group()
def rules() -> None:
    """Event rules: when something happens, run or notify."""


@rules.command("create")
@click.argument("name")
@click.option("--on", "on", required=True,
              help="model-approved, model-registered, run-succeeded, run-failed, "
                   "drift-detected or file-arrived.")
@click.option("--filter", "filter_", metavar="JSON",
              help='EventBridge pattern, e.g. \'{"detail": {"group": ["churn"]}}\'.')
@click.option("--watch", metavar="FOLDER|URI", help="file-arrived: the folder or prefix.")
@click.option("--then", "then", nargs=2, required=True,
              metavar="pipeline FILE.py | state-machine NAME | notify CHANNEL",
              help="What to do.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A pipeline parameter (repeatable).")
@click.option("--parameter", help="Pipeline parameter that receives the event's value (the "
                                  "model GROUP/VERSION, run id or file URI).")
@json_option
def create(name: str, on: str, filter_: str | None, watch: str | None,
           then: tuple[str, str], params: tuple[str, ...], parameter: str | None,
           json_: bool) -> None:
    """Create rule NAME (it reacts while `stackyard server` runs)."""
    from stackyard import triggers

    kind, what = then
    if kind != "pipeline" and (params or parameter):
        raise UsageError("-p/--parameter go with --then pipeline")
    if kind == "pipeline":
        target = triggers.pipeline_target(Path(what), params, parameter)
    elif kind == "state-machine":
        target = triggers.state_machine_target(what)
    elif kind == "notify":
        target = triggers.notify_target(what)
    else:
        raise UsageError(f"--then {kind!r}: write pipeline FILE.py, state-machine NAME or "
                         "notify CHANNEL")
    pattern = None if filter_ is None else triggers.parse_pattern(filter_)
    row = triggers.create_rule(name, on=on, target=target, pattern=pattern, watch=watch)
    if json_:
        print_json(row)
        return
    out.print(f"rule {row['name']}: on {row['on']} -> {row['does']}", markup=False)


@rules.command("list")
@json_option
def list_(json_: bool) -> None:
    """Every rule."""
    if (server := remote()) is not None:
        rows = server.get(api("rules"))
    else:
        from stackyard import triggers

        rows = triggers.list_rules()
    if json_:
        print_json(rows)
        return
    _table(rows)


def _table(rows: list[dict]) -> None:
    import json

    table(["name", "on", "filter", "watch", "does"],
          [[r["name"], r["on"], json.dumps(r["filter"]) if r["filter"] else "",
            r["watch"] or "", r["does"]] for r in rows])


@rules.command("describe")
@click.argument("name")
@json_option
def describe(name: str, json_: bool) -> None:
    """A rule and its latest fires."""
    if (server := remote()) is not None:
        row = server.get(api("rules", name))
    else:
        from stackyard import triggers

        row = triggers.describe_rule(name)
    if json_:
        print_json(row)
        return
    _table([row])
    fires_table(row["fires"])


@rules.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete rule NAME (its fire records stay)."""
    from stackyard import triggers

    triggers.delete_rule(name)
    out.print(f"rule {name} deleted", markup=False)
