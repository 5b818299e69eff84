"""``stackyard tuning ...``: tuning jobs and their trials, best first."""

from __future__ import annotations

import typer

from stackyard.cli._args import JSON, LIMIT, name_of
from stackyard.cli._render import duration, escape, out, print_json, status, table, when

tuning = typer.Typer(help="Inspect and resume hyperparameter tuning jobs.",
                     no_args_is_help=True)


@tuning.command("list")
def list_(limit: LIMIT = 50, json: JSON = False) -> None:
    """Tuning jobs, newest first."""
    from stackyard.tuning import list_tuning_jobs

    rows = list_tuning_jobs(limit)
    if json:
        print_json(rows)
        return
    table(["name", "status", "trials", "best objective", "started", "took"],
          [[r["name"], status(r["status"]), r["trials"], r["best_objective"],
            when(r["created_at"]), duration(r["created_at"], r["end_time"])] for r in rows])


@tuning.command()
def describe(name: str, json: JSON = False) -> None:
    """A tuning job's trials: hyperparameters, objective and status, best first."""
    from stackyard.tuning import describe_tuning_job, list_trials

    name = name_of("tuning job", name)
    s, trials = describe_tuning_job(name), list_trials(name)
    if json:
        print_json({**s, "trials": trials})
        return
    out.print(f"[bold]{name}[/] {status(s['HyperParameterTuningJobStatus'])} "
              f"{escape(s['TrainingJobStatusCounters'])}")
    if s.get("FailureReason"):
        out.print(f"[yellow]{escape(s['FailureReason'])}[/]")
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

    s = run_with_progress(name_of("tuning job", name), show=True)
    out.print(f"{name}: {s['HyperParameterTuningJobStatus']}")
