"""``stackyard run`` and ``stackyard runs ...``: start, watch, inspect, resume, stop."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from stackyard.cli._args import (
    RUN_ID,
    backend_options,
    choose_backend,
    json_option,
    limit_option,
    name_type,
    quiet_option,
)
from stackyard.cli._remote import api, remote
from stackyard.cli._render import (
    Markup,
    duration,
    err,
    escape,
    live_events,
    out,
    print_json,
    status,
    table,
    when,
)
from stackyard.errors import ParameterError


@click.group()
def runs() -> None:
    """Inspect and control pipeline runs."""


def load_pipeline(file: Path) -> Any:
    """FILE's ``pipeline`` (``stackyard.workflow.load_pipeline``; imported here, so the CLI
    loads the SDK only for commands that run a file)."""
    from stackyard.workflow import load_pipeline as load

    return load(file)


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    params = {}
    for p in pairs:
        if "=" not in p:
            raise ParameterError(f"-p {p!r}: expected Name=Value")
        k, v = p.split("=", 1)
        params[k.strip()] = v
    return params


param_option = click.option("-p", "--param", "param", multiple=True, metavar="NAME=VALUE",
                            help="A pipeline parameter (repeatable).")


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@param_option
@quiet_option
@backend_options
def run(file: Path, param: tuple[str, ...], quiet: bool, backend: str | None,
        address: str | None, resources: str | None) -> int:
    """Run a pipeline to the end; exit 0 if it Succeeded, 1 if not, 2 for bad input.

    FILE is a Python file that defines `pipeline`."""
    from stackyard import engine

    pipeline = load_pipeline(file)
    choose_backend(backend, address, resources)
    params = parse_params(param)
    on_event = live_events(show_logs=not quiet)
    holder: dict[str, str] = {}

    def announce(e: dict[str, Any]) -> None:
        if "run_id" not in holder:
            holder["run_id"] = e["run_id"]
            out.print(f"run [bold]{e['run_id']}[/] of pipeline [bold]{escape(pipeline.name)}[/]")
        on_event(e)

    handle = engine.start_run(pipeline.definition_dict(), params,
                              functions=pipeline.functions(), on_event=announce)
    summary(handle.run_id)
    final = engine.describe_run(handle.run_id)["status"]
    out.print(f"run id: {handle.run_id}")
    return 0 if final == "Succeeded" else 1


def _describe(run_id: str) -> dict[str, Any]:
    if (server := remote()) is not None:
        return server.get(api("runs", run_id))
    from stackyard import engine

    d = engine.describe_run(run_id)
    _callbacks(d)
    return d


def summary(run_id: str) -> None:
    d = _describe(run_id)
    table(["step", "status", "attempts", "cache", "took"],
          [[s["name"], status(s["status"]), s["attempts"], "hit" if s["cache_hit"] else "",
            duration(s["start_time"], s["end_time"])] for s in d["steps"]],
          title=f"{d['pipeline']} · {d['run_id']} · {d['status']}")
    if d["failure_reason"]:
        err.print(f"[red]{escape(d['failure_reason'])}[/]", markup=True)


@runs.command("list")
@click.option("--pipeline", type=name_type("pipeline"), help="Only this pipeline.")
@limit_option
@json_option
def list_(pipeline: str | None, limit: int, json_: bool) -> None:
    """Recent runs, newest first."""
    if (server := remote()) is not None:
        rows = server.get(api("runs"), pipeline=pipeline, limit=limit)["runs"]
    else:
        from stackyard import engine

        rows = engine.list_runs(pipeline, limit)
    if json_:
        print_json([{k: r[k] for k in ("run_id", "pipeline", "status", "start_time",
                                       "end_time")} for r in rows])
        return
    table(["run id", "pipeline", "status", "started", "took"],
          [[r["run_id"], r["pipeline"], status(r["status"]), when(r["start_time"]),
            duration(r["start_time"], r["end_time"])] for r in rows])


@runs.command()
@click.argument("run_id", type=RUN_ID)
@json_option
def describe(run_id: str, json_: bool) -> None:
    """Status, parameters and every step of one run."""
    d = _describe(run_id)
    if json_:
        print_json(d)
        return
    out.print(f"[bold]{d['run_id']}[/] pipeline={escape(d['pipeline'])} "
              f"status={status(d['status'])} started={when(d['start_time'])} "
              f"took={duration(d['start_time'], d['end_time'])}")
    out.print(f"parameters: {d['parameters']}", markup=False)
    if d["failure_reason"]:
        out.print(f"[red]failure: {escape(d['failure_reason'])}[/]")
    table(["step", "status", "attempts", "cache", "started", "took", "outputs / reason"],
          [[s["name"], Markup(status(s["status"]) + (f" ({escape(s['waiting'])})"
                                                     if "waiting" in s else "")),
            s["attempts"], "hit" if s["cache_hit"] else "",
            when(s["start_time"]), duration(s["start_time"], s["end_time"]),
            _brief(s)] for s in d["steps"]])


def _callbacks(d: dict[str, Any]) -> None:
    """Mark each step waiting for a callback answer: ``waiting`` (``waiting for callback on
    QUEUE``) and its ``callback`` (``{"token", "queue"}``), the token being what to answer."""
    from stackyard.callbacks._api import waiting_steps

    waiting = waiting_steps(d["run_id"])
    for s in d["steps"]:
        if s["status"] == "Executing" and s["name"] in waiting:
            s["callback"] = waiting[s["name"]]
            s["waiting"] = f"waiting for callback on {s['callback']['queue']}"


def short_uri(uri: str) -> str:
    """``file:///…/artifacts/trees/<64 hex>/x`` -> ``trees/<12 hex>…/x`` for tables."""
    marker = "/artifacts/"
    if marker not in str(uri):
        return str(uri)
    kind, digest, *rest = str(uri).split(marker, 1)[1].split("/")
    return "/".join([kind, digest[:12] + "…", *rest])


def _brief(s: dict[str, Any]) -> str:
    if "callback" in s:
        return f"token {s['callback']['token']}"
    if s["failure_reason"]:
        return str(s["failure_reason"]).splitlines()[0]
    o = s["outputs"]
    if "ModelArtifacts" in o:
        return short_uri(o["ModelArtifacts"]["S3ModelArtifacts"])
    if "ProcessingOutputConfig" in o:
        return ", ".join(f"{k}={short_uri(v['S3Output']['S3Uri'])}"
                         for k, v in o["ProcessingOutputConfig"]["Outputs"].items())
    if "Result" in o:
        return repr(o["Result"])[:80]
    if "Outcome" in o:
        return f"outcome={o['Outcome']}"
    return ""


@runs.command()
@click.argument("run_id", type=RUN_ID)
@click.argument("step", type=name_type("step"), required=False)
def logs(run_id: str, step: str | None) -> None:
    """Print the job logs of a run (or of one step), every attempt."""
    if (server := remote()) is not None:
        for text in server.lines(api("runs", run_id, "logs"), step=step):
            sys.stdout.write(text)
        sys.stdout.flush()
        return
    from stackyard import engine

    for name, n, path in engine.step_logs(run_id, step):
        out.print(f"[bold]==> {escape(name)} attempt {n} ({escape(path)})[/]")
        sys.stdout.write(path.read_text(errors="replace"))
        sys.stdout.flush()


@runs.command()
@click.argument("run_id", type=RUN_ID)
@quiet_option
@backend_options
def resume(run_id: str, quiet: bool, backend: str | None, address: str | None,
           resources: str | None) -> int:
    """Finish a run whose runner died or that failed: succeeded steps are kept. Jobs still
    running (on this machine or on Ray) are adopted; new jobs go where the run started
    (its backend, address and resources), or to --backend/--address/--resources."""
    if (server := remote()) is not None:
        started = server.post(api("runs", run_id, "resume"))
        err.print(f"run {run_id}: resumed by the server at {server.url} (pid "
                  f"{started['pid']})", markup=False)
        for text in server.lines(api("runs", run_id, "logs"), follow="true"):
            if not quiet:
                sys.stdout.write(text)
        summary(run_id)
        return 0 if _describe(run_id)["status"] == "Succeeded" else 1
    from stackyard import engine

    final = engine.resume_run(run_id, on_event=live_events(show_logs=not quiet),
                              backend=backend, address=address, resources=resources)
    summary(run_id)
    return 0 if final == "Succeeded" else 1


@runs.command()
@click.argument("run_id", type=RUN_ID)
def stop(run_id: str) -> None:
    """Stop a run: its jobs are ended and it is marked Stopped."""
    if (server := remote()) is not None:
        out.print(f"{run_id}: {server.post(api('runs', run_id, 'stop'))['status']}",
                  markup=False)
        return
    from stackyard import engine

    out.print(f"{run_id}: {engine.stop_run(run_id)}", markup=False)
