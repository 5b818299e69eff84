"""``stackyard schedules ...``: pipelines, state machines and monitoring checks on a clock.
The schedules are rows in the store; `stackyard server` fires them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from stackyard.cli._args import json_option
from stackyard.cli._remote import api, remote
from stackyard.cli._render import out, print_json, status, table, when
from stackyard.errors import UsageError


@click.group()
def schedules() -> None:
    """Run pipelines, state machines or checks on a schedule."""


def target_of(pipeline: Path | None, state_machine: str | None, monitor: str | None,
              baseline: str | None, since: str | None, params: tuple[str, ...],
              parameter: str | None = None) -> dict[str, Any]:
    """The one target named by exactly one of --pipeline/--state-machine/--monitor."""
    from stackyard import triggers

    if sum(x is not None for x in (pipeline, state_machine, monitor)) != 1:
        raise UsageError("give exactly one of --pipeline FILE.py, --state-machine NAME or "
                         "--monitor ENDPOINT")
    if pipeline is None and (params or parameter):
        raise UsageError("-p/--parameter go with a pipeline")
    if monitor is None and (baseline or since):
        raise UsageError("--baseline/--since go with --monitor")
    if pipeline is not None:
        return triggers.pipeline_target(pipeline, params, parameter)
    if state_machine is not None:
        return triggers.state_machine_target(state_machine)
    if baseline is None:
        raise UsageError("--monitor ENDPOINT needs --baseline GROUP/VERSION")
    return triggers.monitor_target(monitor, baseline, since)


def _table(rows: list[dict[str, Any]]) -> None:
    table(["name", "state", "expression", "timezone", "next fire", "does"],
          [[r["name"], status(r["state"]), r["expression"], r["timezone"],
            r["next_fire"] or "-", r["does"]] for r in rows])


def fires_table(fires: list[dict[str, Any]]) -> None:
    table(["fire", "due", "status", "started", "run / detail", "reason"],
          [[f["id"], f["due"][:19], status(f["status"]), when(f["started_at"]),
            (f["detail"] or {}).get("run_id") or (f["detail"] or {}).get("notification")
            or (f["detail"] or {}).get("monitoring_run") or "", f["reason"] or ""]
           for f in fires])


@schedules.command("create")
@click.argument("name")
@click.option("--pipeline", type=click.Path(path_type=Path), help="Pipeline file to run.")
@click.option("--state-machine", "state_machine", help="State machine to start.")
@click.option("--monitor", metavar="ENDPOINT",
              help="Check ENDPOINT's captured requests (with --baseline).")
@click.option("--baseline", metavar="GROUP/VERSION",
              help="--monitor: the registered version whose data baseline to check against.")
@click.option("--since", help="--monitor: only requests captured within this span (1h, 1d).")
@click.option("--cron", help="Cron: '0 2 * * *' or AWS's 'cron(0 2 * * ? *)'.")
@click.option("--rate", help="Rate: '1 day', 'rate(5 minutes)', or seconds: '10 seconds'.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A pipeline parameter (repeatable).")
@click.option("--timezone", default="UTC", show_default=True, help="Time zone of --cron.")
@click.option("--catchup", type=click.Choice(["none", "last", "all"]), default="last",
              show_default=True, help="Times missed while no server ran: skip, run the "
                                      "latest, or run all.")
@click.option("--overlap", type=click.Choice(["skip", "queue", "allow"]), default="allow",
              show_default=True, help="A fire due while the previous still runs.")
@click.option("--start-at", help="First possible fire (ISO 8601; no offset: --timezone).")
@click.option("--end-at", help="Last possible fire (ISO 8601).")
@json_option
def create(name: str, pipeline: Path | None, state_machine: str | None, monitor: str | None,
           baseline: str | None, since: str | None, cron: str | None, rate: str | None,
           params: tuple[str, ...], timezone: str, catchup: str, overlap: str,
           start_at: str | None, end_at: str | None, json_: bool) -> None:
    """Create schedule NAME (it fires while `stackyard server` runs)."""
    from stackyard import triggers

    if (cron is None) == (rate is None):
        raise UsageError("give exactly one of --cron EXPRESSION or --rate EXPRESSION")
    expression = cron if cron is not None else rate
    assert expression is not None
    if rate is not None and not expression.lower().startswith("rate("):
        expression = f"rate({expression})"
    target = target_of(pipeline, state_machine, monitor, baseline, since, params)
    row = triggers.create_schedule(name, target=target, expression=expression,
                                   timezone=timezone, catchup=catchup, overlap=overlap,
                                   start_at=start_at, end_at=end_at)
    if json_:
        print_json(row)
        return
    out.print(f"schedule {row['name']}: {row['does']} at {row['expression']}; next fire "
              f"{row['next_fire']}", markup=False)


@schedules.command("list")
@json_option
def list_(json_: bool) -> None:
    """Every schedule and its next fire time."""
    if (server := remote()) is not None:
        rows = server.get(api("schedules"))
    else:
        from stackyard import triggers

        rows = triggers.list_schedules()
    if json_:
        print_json(rows)
        return
    _table(rows)


@schedules.command("describe")
@click.argument("name")
@json_option
def describe(name: str, json_: bool) -> None:
    """A schedule and its latest fires."""
    if (server := remote()) is not None:
        row = server.get(api("schedules", name))
    else:
        from stackyard import triggers

        row = triggers.describe_schedule(name)
    if json_:
        print_json(row)
        return
    _table([row])
    fires_table(row["fires"])


def _simple(verb: str, doc: str) -> None:
    @schedules.command(verb, help=doc)
    @click.argument("name")
    @json_option
    def command(name: str, json_: bool) -> None:
        from stackyard import triggers

        row = getattr(triggers, f"{verb}_schedule")(name)
        if json_:
            print_json(row)
            return
        out.print(f"schedule {name}: {row.get('state') or row.get('status')}", markup=False)


_simple("pause", "Stop firing NAME until resumed.")
_simple("resume", "Fire NAME again from now on (paused times are not caught up).")
_simple("trigger", "Fire NAME's target now, from this process (no server needed).")


@schedules.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete schedule NAME (its fire records stay)."""
    from stackyard import triggers

    triggers.delete_schedule(name)
    out.print(f"schedule {name} deleted", markup=False)
