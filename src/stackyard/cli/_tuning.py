"""``stackyard tuning ...``: tuning jobs and their trials, best first."""

from __future__ import annotations

import click

from stackyard.cli._args import json_option, limit_option, name_type
from stackyard.cli._remote import api, remote
from stackyard.cli._render import duration, escape, out, print_json, status, table, when

TUNING_JOB = name_type("tuning job")


@click.group()
def tuning() -> None:
    """Inspect and resume hyperparameter tuning jobs."""


@tuning.command("list")
@limit_option
@json_option
def list_(limit: int, json_: bool) -> None:
    """Tuning jobs, newest first."""
    if (server := remote()) is not None:
        rows = server.get(api("tuning-jobs"), limit=limit)
    else:
        from stackyard.tuning import list_tuning_jobs

        rows = list_tuning_jobs(limit)
    if json_:
        print_json(rows)
        return
    table(["name", "status", "trials", "best objective", "started", "took"],
          [[r["name"], status(r["status"]), r["trials"], r["best_objective"],
            when(r["created_at"]), duration(r["created_at"], r["end_time"])] for r in rows])


@tuning.command()
@click.argument("name", type=TUNING_JOB)
@json_option
def describe(name: str, json_: bool) -> None:
    """A tuning job's trials: hyperparameters, objective and status, best first."""
    if (server := remote()) is not None:
        s = server.get(api("tuning-jobs", name))
        trials = s.pop("trials")
    else:
        from stackyard.tuning import describe_tuning_job, list_trials

        s, trials = describe_tuning_job(name), list_trials(name)
    if json_:
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
@click.argument("name", type=TUNING_JOB)
def resume(name: str) -> None:
    """Finish a tuning job whose process died: finished trials are kept, live ones adopted."""
    from stackyard.tuning._progress import run_with_progress

    s = run_with_progress(name, show=True)
    out.print(f"{name}: {s['HyperParameterTuningJobStatus']}")
