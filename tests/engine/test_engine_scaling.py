"""Per-step cost stays flat as pipelines grow.

Time is a noisy witness on a shared machine, so these tests count work instead: the Python
lines executed in the code under test (``sys.settrace``, this thread only). A rescan of every
step per scheduling pass, or a naming loop that retries every taken name, costs more lines
per step the bigger the pipeline; event-driven readiness and counted names do not.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from stackyard import engine
from stackyard.engine import _runner
from stackyard.workflow import ConditionGreaterThan, ConditionStep, Pipeline, step
from stackyard.workflow import _pipeline as pipeline_module


def _lines_in(path: str, call: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``call``; return its result and how many lines of file ``path`` it executed."""
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename == path else None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = call()
    finally:
        sys.settrace(old)
    return result, count


@step
def noop(x):
    return x


def _chain(n: int, name: str) -> Pipeline:
    value: Any = 0
    for _ in range(n):
        value = noop(value)
    return Pipeline(name, steps=[value])


def test_step_naming_work_per_step_does_not_grow_with_the_pipeline():
    """Regression: 1,000 calls of one ``@step`` function tried every taken name first."""
    per_step = {}
    for n in (50, 400):
        p = _chain(n, f"naming-{n}")
        steps, lines = _lines_in(pipeline_module.__file__, p.all_steps)
        assert sorted(s.name for s in steps) == sorted(
            ["noop"] + [f"noop-{i}" for i in range(2, n + 1)])
        per_step[n] = lines / n
    assert per_step[400] < 1.5 * per_step[50], per_step


def test_default_names_skip_names_taken_explicitly():
    explicit = step(name="noop-3")(lambda x: x)
    a = noop(1)
    b = explicit(a)
    c = noop(b)
    d = noop(c)
    names = [s.name for s in Pipeline("names", steps=[d]).all_steps()]
    assert sorted(names) == ["noop", "noop-2", "noop-3", "noop-4"]
    # compiling twice gives the same names (the definition is stable)
    assert [s.name for s in Pipeline("names", steps=[d]).all_steps()] == names


def test_scheduling_work_per_step_does_not_grow_with_the_pipeline():
    """Regression: every scheduling pass rescanned every step (quadratic in steps)."""
    per_step = {}
    for n in (50, 400):
        p = _chain(n, f"sched-{n}")

        def run(p: Pipeline = p) -> str:
            h = engine.start_run(p.definition_dict(), functions=p.functions())
            return engine.describe_run(h.run_id)["status"]

        status, lines = _lines_in(_runner.__file__, run)
        assert status == "Succeeded"
        per_step[n] = lines / n
    assert per_step[400] < 1.5 * per_step[50], per_step


def test_skips_cascade_through_a_not_taken_branch_and_its_dependents(sy):
    """Event-driven readiness keeps the branch rules: the branch not taken and everything
    downstream of it is Skipped, a step needing both branches is Skipped, the taken one runs."""
    ran: list[str] = []

    @step(name="Value")
    def value():
        return 5

    @step(name="Big")
    def big(x):
        ran.append("Big")
        return x

    @step(name="Small")
    def small(x):
        ran.append("Small")
        return x

    @step(name="AfterSmall")
    def after_small(x):
        ran.append("AfterSmall")
        return x

    @step(name="Both")
    def both(a, b):
        ran.append("Both")
        return a

    v = value()
    b, s = big(v), small(v)
    cond = ConditionStep("IsBig", conditions=[ConditionGreaterThan(v, 3)],
                         if_steps=[b.step], else_steps=[s.step])
    tail = after_small(s)
    p = Pipeline("branches", steps=[cond, tail, both(b, s)])
    ex = p.start()
    assert ex.wait() == "Succeeded"
    assert {x["StepName"]: x["StepStatus"] for x in ex.list_steps()} == {
        "Value": "Succeeded", "IsBig": "Succeeded", "Big": "Succeeded",
        "Small": "Skipped", "AfterSmall": "Skipped", "Both": "Skipped"}
    assert ran == ["Big"]
