"""Step Functions overhead, next to a pipeline of the same shape (issue 11's benchmark).

1. A chain of N ``Pass`` states, run durably (every transition committed to SQLite before
   it takes effect), built with ``stackyard.states.sdk``: wall time / N is the per-state
   overhead (target <= 2 ms). Beside it, a pipeline chain of N no-op ``@step`` functions.
2. An inline ``Map`` over M items calling a local Lambda function (each call a job
   subprocess, as ``lambda:invoke`` runs it), up to the CPU count at once: wall time / M
   per item, next to the function's own time per call (its process, Python start-up
   included, as the job launcher measured it) divided by the calls that run at once: the
   Map is limited by the function when the two are close. Beside it, a pipeline of M
   ``LambdaStep``s, measured the same way.

Usage: python bench/states.py [--states 1000] [--items 1000]
(``--items 1000`` starts 1,000 Python processes twice: minutes on 2 cores.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stackyard._home import cpu_count

TARGET_PASS_MS = 2.0
HANDLER = "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n"


def pass_chain(n: int) -> float:
    from stackyard.states import StateMachine
    from stackyard.states.sdk import Chain, Graph, Pass

    asl = Graph(Chain([Pass(f"P{i}") for i in range(n)])).to_dict()
    machine = StateMachine.create(f"bench-pass-{n}", asl)
    start = time.perf_counter()
    execution = machine.start_execution({"n": 1}, wait=True)
    wall = time.perf_counter() - start
    assert execution.describe()["status"] == "SUCCEEDED"
    return wall


def step_chain(n: int) -> float:
    from stackyard.workflow import Pipeline, step

    @step
    def noop(x):
        return x

    value = 0
    for _ in range(n):
        value = noop(value)
    pipeline = Pipeline(name=f"bench-steps-{n}", steps=[value])
    start = time.perf_counter()
    assert pipeline.start().wait() == "Succeeded"
    return time.perf_counter() - start


def lambda_map(items: int, script: Path) -> float:
    from stackyard.lambdas import register_function
    from stackyard.states import StateMachine
    from stackyard.states.sdk import Graph, LambdaStep, Map

    register_function("bench-double", script, "double.handler")
    each = LambdaStep("Double", parameters={"FunctionName": "bench-double",
                                            "Payload": {"n.$": "$"}})
    asl = Graph(Map("Each", iterator=each, items_path="$.items",
                    max_concurrency=cpu_count())).to_dict()
    machine = StateMachine.create(f"bench-map-{items}", asl)
    start = time.perf_counter()
    execution = machine.start_execution({"items": list(range(items))}, wait=True)
    wall = time.perf_counter() - start
    out = execution.output()
    assert len(out) == items and out[-1]["Payload"]["doubled"] == 2 * (items - 1), out[-1]
    return wall


def lambda_steps(items: int, script: Path) -> float:
    from stackyard.workflow import Lambda, LambdaOutput, LambdaOutputTypeEnum, LambdaStep, Pipeline

    fn = Lambda(function_name="bench-double", script=str(script), handler="double.handler")
    steps = [LambdaStep(f"Double-{i}", lambda_func=fn, inputs={"n": i},
                        outputs=[LambdaOutput("doubled", LambdaOutputTypeEnum.Integer)])
             for i in range(items)]
    start = time.perf_counter()
    assert Pipeline(name=f"bench-lambdas-{items}", steps=steps).start().wait() == "Succeeded"
    return time.perf_counter() - start


def function_seconds(home: Path) -> float:
    """The Lambda processes' own run time, as each job's launcher measured it
    (``exit.json``: ``duration``, Python start-up included: the function's cost)."""
    import json

    return sum(float(json.loads(p.read_text()).get("duration", 0.0))
               for p in home.rglob("exit.json"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    console = Console(width=150)
    with tempfile.TemporaryDirectory(prefix="stackyard bench ") as tmp:
        os.environ["STACKYARD_HOME"] = str(Path(tmp) / "home")
        script = Path(tmp) / "double.py"
        script.write_text(HANDLER)
        pass_chain(10)  # warm-up: imports, database creation
        rows = []
        wall = pass_chain(args.states)
        rows.append((f"{args.states} Pass states (Step Functions)", args.states, wall, None))
        wall = step_chain(args.states)
        rows.append((f"{args.states} no-op @step functions (pipeline)", args.states, wall,
                     None))
        home = Path(tmp) / "home"
        before = function_seconds(home)
        wall = lambda_map(args.items, script)
        rows.append((f"Map over {args.items} items, lambda:invoke", args.items, wall,
                     function_seconds(home) - before))
        before = function_seconds(home)
        wall = lambda_steps(args.items, script)
        rows.append((f"{args.items} LambdaSteps (pipeline)", args.items, wall,
                     function_seconds(home) - before))
    cpus = cpu_count()
    table = Table(title=f"Step Functions overhead ({cpus} CPUs)")
    for col in ("workload", "n", "wall s", "ms per state/item", "function ms per call",
                "function-bound ms per item", "note"):
        table.add_column(col, justify="left" if col in ("workload", "note") else "right")
    for name, n, wall, fn in rows:
        per = 1000 * wall / n
        if fn is None:
            note = f"target <= {TARGET_PASS_MS:.0f} ms" if "Pass" in name else ""
            table.add_row(name, str(n), f"{wall:.2f}", f"{per:.2f}", "", "", note)
            continue
        call = 1000 * fn / n           # one call's own time
        floor = call / cpus            # per item when the CPUs do nothing but the function
        table.add_row(name, str(n), f"{wall:.2f}", f"{per:.2f}", f"{call:.1f}",
                      f"{floor:.1f}", f"function busy {floor / per:.0%} of the wall time")
    console.print(table)


if __name__ == "__main__":
    main()
