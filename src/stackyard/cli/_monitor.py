"""``stackyard monitor ...``: check an endpoint's captured traffic against a registered
baseline, and list, describe and open monitoring runs."""

from __future__ import annotations

from typing import Any

import click

from stackyard.cli._args import MODEL_REF, RUN_ID, json_option, limit_option, name_type
from stackyard.cli._remote import api, remote
from stackyard.cli._render import escape, out, print_json, status, table, when
from stackyard.errors import NotFoundError

MONITOR_STYLE = {"Completed": "green", "CompletedWithViolations": "yellow", "Failed": "red",
                 "InProgress": "cyan"}


@click.group()
def monitor() -> None:
    """Data-quality monitoring runs (SageMaker Model Monitor's formats)."""


@monitor.command("run")
@click.option("--endpoint", required=True, type=name_type("endpoint"),
              help="The endpoint whose captured requests to check.")
@click.option("--baseline", required=True, type=MODEL_REF,
              help="GROUP/VERSION whose registered data-quality baseline to check against.")
@click.option("--since", default=None, metavar="SPAN",
              help="Only requests captured in the last SPAN (e.g. 1h, 30m, 2d).")
@json_option
def run_(endpoint: str, baseline: str, since: str | None, json_: bool) -> None:
    """Check captured requests against a registered baseline, now."""
    from stackyard.monitor import check_endpoint
    from stackyard.monitor._api import parse_offset

    if since is not None:
        parse_offset(since)  # refuse junk before anything is read
    r = check_endpoint(endpoint, baseline, since)
    if json_:
        print_json(r)
        return
    _show(r)


@monitor.command("list")
@click.option("--endpoint", type=name_type("endpoint"), help="Only runs of this endpoint.")
@limit_option
@json_option
def list_(endpoint: str | None, limit: int, json_: bool) -> None:
    """Monitoring runs, newest first."""
    if (server := remote()) is not None:
        rows = server.get(api("monitoring", "runs"), endpoint=endpoint, limit=limit)
    else:
        from stackyard.monitor._run import list_monitoring_runs

        rows = list_monitoring_runs(endpoint, limit)
    if json_:
        print_json(rows)
        return
    table(["run", "kind", "job", "source", "baseline", "status", "violations", "started"],
          [[r["run_id"], r["kind"], r["job"], r["source"], r["baseline"], _status(r["status"]),
            r["violations"], when(r["created_at"])] for r in rows])


def _status(s: str) -> Any:
    from stackyard.cli._render import Markup

    return Markup(f"[{MONITOR_STYLE.get(s, 'white')}]{escape(s)}[/]") if s in MONITOR_STYLE \
        else status(s)


def _get(run_id: str) -> dict[str, Any]:
    from stackyard.monitor._run import describe_monitoring_run

    return describe_monitoring_run(run_id)


@monitor.command()
@click.argument("run_id", type=RUN_ID)
@json_option
def describe(run_id: str, json_: bool) -> None:
    """One monitoring run: status, outputs and its violations."""
    if (server := remote()) is not None:
        r = server.get(api("monitoring", "runs", run_id))
    else:
        r = _get(run_id)
        r["violations_list"] = _violations(r)
    if json_:
        print_json(r)
        return
    _show(r)


def _violations(r: dict[str, Any]) -> list[dict[str, Any]]:
    from stackyard.monitor._violations import read_json

    path = r["outputs"].get("violations")
    return read_json(path, "violations")["violations"] if path else []


def _show(r: dict[str, Any]) -> None:
    out.print(f"{escape(r['run_id'])}  {r['kind']} {r['job']}  {_status(r['status'])}")
    out.print(f"source: {escape(r['source'])}   baseline: {escape(r['baseline'] or '-')}")
    if r.get("failure_reason"):
        out.print(f"[red]{escape(r['failure_reason'])}[/]")
    found = r.get("violations_list") or []
    if found:
        table(["feature", "check", "description"],
              [[v.get("feature_name") or v.get("metric_name"), v["constraint_check_type"],
                v["description"]] for v in found])
    for key in ("statistics", "constraints", "violations", "report"):
        if r["outputs"].get(key):
            out.print(f"{key}: {escape(r['outputs'][key])}")


@monitor.command()
@click.argument("run_id", type=RUN_ID)
@click.option("--open", "open_", is_flag=True, help="Open the report in a browser.")
@json_option
def report(run_id: str, open_: bool, json_: bool) -> None:
    """The path of a run's HTML report (self-contained; opens offline)."""
    r = _get(run_id)
    path = r["outputs"].get("report")
    if not path:
        raise NotFoundError(f"monitoring run {run_id} has no report ({r['status']})")
    from stackyard import artifacts

    artifacts.verify(r["outputs"]["uri"])  # the stored tree is what the run wrote
    if json_:
        print_json({"run_id": run_id, "report": path})
    else:
        click.echo(path)
    if open_:
        click.launch(path)
