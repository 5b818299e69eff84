"""Engine overhead per step: a 50-step chain of no-op ``@step`` functions, and of no-op
processing jobs (subprocesses). Every transition is committed to SQLite as in real runs.

Overhead = (wall time of the run - the jobs' own run time) / steps. A job's own run time is
what its launcher measured around the user's process (python startup included: that is
the job's work, not the engine's).

A second table shows how the per-step cost of ``@step`` steps scales: 100 and 1,000
no-op steps as a chain and as independent steps (fan-out), wall time from building the
definition to the end of the run. A flat cost gives a 1000/100 ratio near 1; a scheduler
that rescans every step per pass gives a ratio near 10.

Usage: python bench/engine_overhead.py [--steps 50] [--sizes 100,1000]
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

from stackyard._home import cpu_count

TARGETS_MS = {"@step functions": 10.0, "subprocess jobs": 200.0}


def chain_of_functions(n: int, name: str = "bench-functions"):
    from stackyard.workflow import Pipeline, step

    @step
    def noop(x):
        return x

    value = 0
    for _ in range(n):
        value = noop(value)
    return Pipeline(name=name, steps=[value])


def fan_out_of_functions(n: int, name: str):
    from stackyard.workflow import Pipeline, step

    @step
    def noop(x):
        return x

    return Pipeline(name=name, steps=[noop(i) for i in range(n)])


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


def scaling(sizes: list[int]) -> None:
    """Per-step cost of @step steps at each size; the last column compares with the first."""
    table = Table(title=f"@step per-step cost as pipelines grow, {cpu_count()} CPUs")
    for col in ("shape", *(f"{n} steps ms/step" for n in sizes),
                f"ratio {sizes[-1]}/{sizes[0]}"):
        table.add_column(col, justify="right")
    for shape, build in (("chain", chain_of_functions), ("fan-out", fan_out_of_functions)):
        per_step = []
        for n in sizes:
            t0 = time.perf_counter()
            status = build(n, f"scale-{shape}-{n}").start().wait()
            assert status == "Succeeded", status
            per_step.append((time.perf_counter() - t0) / n * 1000)
        table.add_row(shape, *(f"{v:.2f}" for v in per_step),
                      f"{per_step[-1] / per_step[0]:.2f}")
    Console(width=120).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sizes", default="100,1000",
                        help="comma-separated step counts for the scaling table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STACKYARD_HOME"] = str(Path(tmp) / "home")
        chain_of_functions(10, "warm-up").start().wait()  # imports, database creation
        rows = []
        for label, pipeline in (("@step functions", chain_of_functions(args.steps)),
                                ("subprocess jobs", chain_of_jobs(args.steps, Path(tmp)))):
            wall, own, status = measure(pipeline, args.steps)
            per_step = (wall - own) / args.steps * 1000
            target = TARGETS_MS[label]
            rows.append((label, status, f"{wall:.2f}", f"{own:.2f}", f"{per_step:.1f}",
                         f"{target:.0f}", f"{per_step / target:.2f}"))
        scaling([int(x) for x in args.sizes.split(",")])
    table = Table(title=f"engine overhead, {args.steps}-step chain, {cpu_count()} CPUs")
    for col in ("chain", "status", "wall s", "jobs' own s", "overhead ms/step",
                "target ms/step", "ratio (<=1 passes)"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*r)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
