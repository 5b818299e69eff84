"""A live progress bar for a tuning job run from a notebook or script."""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stackyard.errors import StackyardError
from stackyard.tuning._orchestrator import TuningRun


def run_with_progress(name: str, show: bool | None = None) -> dict[str, Any]:
    show = sys.stderr.isatty() if show is None else show
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                  disable=not show, transient=False) as bar:
        task = bar.add_task(f"tuning {name}", total=None, status="")

        def on_progress(e: dict[str, Any]) -> None:
            best = f"best={e['best']:.5g}" if e["best"] is not None else "best=-"
            counts = " ".join(f"{k.lower()}={v}" for k, v in sorted(e["counts"].items()))
            bar.update(task, total=e["total"], completed=e["finished"],
                       status=f"{best} {counts}")

        result = TuningRun(name, on_progress=on_progress).run()
    if result["HyperParameterTuningJobStatus"] == "Failed":
        raise StackyardError(f"tuning job {name} failed: {result['FailureReason']}")
    return result
