"""``stackyard tuning ...``: tuning jobs and their trials, best first."""

from __future__ import annotations

from typing import Annotated

import typer

from stackyard.cli._render import duration, out, print_json, status, table, when
from stackyard.store import open_store

tuning = typer.Typer(help="Inspect and resume hyperparameter tuning jobs.",
                     no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@tuning.command("list")
def list_(limit: int = 50, json: JSON = False) -> None:
    """Tuning jobs, newest first."""
    rows = open_store().list_tuning_jobs(limit)
    if json:
        print_json(rows)
        return
    table(["name", "status", "trials", "best objective", "started", "took"],
          [[r["name"], status(r["status"]), r["trials"], r["best_objective"],
            when(r["created_at"]), duration(r["created_at"], r["end_time"])] for r in rows])


@tuning.command()
def describe(name: str, json: JSON = False) -> None:
    """A tuning job's trials: hyperparameters, objective and status, best first."""
    from stackyard.tuning._orchestrator import summary, trials_table

    s, trials = summary(name), trials_table(name)
    if json:
        print_json({**s, "trials": trials})
        return
    out.print(f"[bold]{name}[/] {status(s['HyperParameterTuningJobStatus'])} "
              f"{s['TrainingJobStatusCounters']}")
    if s.get("FailureReason"):
        out.print(f"[yellow]{s['FailureReason']}[/]")
    names = sorted({k for t in trials for k in t["hyperparameters"]})
    table(["#", "status", "objective", *names, "took", "reason"],
          [[t["number"], status(t["status"]), t["objective"],
            *[t["hyperparameters"].get(n) for n in names],
            duration(t["start_time"], t["end_time"]),
            (t["failure_reason"] or "").splitlines()[0] if t["failure_reason"] else ""]
           for t in trials])


@tuning.command()
def resume(name: str) -> None:
    """Finish a tuning job whose process died: finished trials are kept, live ones adopted."""
    from stackyard.tuning._progress import run_with_progress

    s = run_with_progress(name, show=True)
    out.print(f"{name}: {s['HyperParameterTuningJobStatus']}")
