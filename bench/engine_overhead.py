"""Engine overhead per step: a 50-step chain of no-op ``@step`` functions, and of no-op
processing jobs (subprocesses). Every transition is committed to SQLite as in real runs.

Overhead = (wall time of the run - the jobs' own run time) / steps. A job's own run time is
what its launcher measured around the user's process (python startup included: that is
the job's work, not the engine's).

Usage: python bench/engine_overhead.py [--steps 50]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGETS_MS = {"@step functions": 10.0, "subprocess jobs": 200.0}


def chain_of_functions(n: int):
    from stackyard.workflow import Pipeline, step

    @step
    def noop(x):
        return x

    value = 0
    steps = []
    for _ in range(n):
        value = noop(value)
        steps.append(value)
    return Pipeline(name="bench-functions", steps=[steps[-1]])


def chain_of_jobs(n: int, workdir: Path):
    from stackyard.jobs import ProcessingOutput, ScriptProcessor
    from stackyard.workflow import ProcessingStep

    script = workdir / "noop.py"
    script.write_text("pass\n")
    proc = ScriptProcessor(command=["python3"])
    steps, prev = [], None
    for i in range(n):
        s = ProcessingStep(f"job-{i:02d}", processor=proc, code=str(script),
                           outputs=[ProcessingOutput(output_name="out",
                                                     source="/opt/ml/processing/out")],
                           depends_on=[prev] if prev else None)
        steps.append(s)
        prev = s
    from stackyard.workflow import Pipeline

    return Pipeline(name="bench-jobs", steps=steps)


def job_seconds(run_id: str) -> float:
    from stackyard import _home

    total = 0.0
    for exit_file in (_home.runs_root() / run_id).rglob("exit.json"):
        total += json.loads(exit_file.read_text())["duration"]
    return total


def measure(pipeline, steps: int) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    execution = pipeline.start()
    status = execution.wait()
    wall = time.perf_counter() - t0
    return wall, job_seconds(execution.run_id), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STACKYARD_HOME"] = str(Path(tmp) / "home")
        rows = []
        for label, pipeline in (("@step functions", chain_of_functions(args.steps)),
                                ("subprocess jobs", chain_of_jobs(args.steps, Path(tmp)))):
            wall, own, status = measure(pipeline, args.steps)
            per_step = (wall - own) / args.steps * 1000
            target = TARGETS_MS[label]
            rows.append((label, status, f"{wall:.2f}", f"{own:.2f}", f"{per_step:.1f}",
                         f"{target:.0f}", f"{per_step / target:.2f}"))
    table = Table(title=f"engine overhead, {args.steps}-step chain, {os.cpu_count()} CPUs")
    for col in ("chain", "status", "wall s", "jobs' own s", "overhead ms/step",
                "target ms/step", "ratio (<=1 passes)"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*r)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
