"""Independent steps run at the same time; executions never interfere with each other."""

from __future__ import annotations

import threading
import time

from stackyard import artifacts, engine
from stackyard.jobs import ProcessingOutput, ScriptProcessor
from stackyard.workflow import (
    ParallelismConfiguration,
    ParameterString,
    Pipeline,
    ProcessingStep,
    step,
)

PY = ScriptProcessor(command=["python3"])

# A rendezvous in the file system: each job announces itself, then waits (up to a deadline)
# until every job of the group has. Jobs run one after the other never meet, so a job that
# returns proves the others were running at the same time; no clock is compared.
RENDEZVOUS = """
import os, pathlib, sys, time
me = sys.argv[sys.argv.index("--tag") + 1]
meet = pathlib.Path(MEET)
(meet / me).write_text("here")
deadline = time.monotonic() + 60
while len(os.listdir(meet)) < COUNT:
    if time.monotonic() > deadline:
        sys.exit(f"{me}: the other jobs never arrived: they did not run at the same time")
    time.sleep(0.02)
"""


def _meeting_job(sy, name, count):
    meet = sy.tmp / "meet"
    meet.mkdir(exist_ok=True)
    code = sy.write(f"code/{name}.py", RENDEZVOUS, MEET=str(meet), COUNT=count)
    return ProcessingStep(name, processor=PY, code=str(code), job_arguments=["--tag", name])


def test_two_independent_jobs_run_in_parallel(sy):
    p = Pipeline("parallel", steps=[_meeting_job(sy, "A", 2), _meeting_job(sy, "B", 2)],
                 parallelism_config=ParallelismConfiguration(2))
    ex = p.start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert sorted(f.name for f in (sy.tmp / "meet").iterdir()) == ["A", "B"]


BARRIER = threading.Barrier(2, timeout=60)


@step(name="P1")
def p1():
    BARRIER.wait()       # returns only once P2 is running too
    return 1


@step(name="P2")
def p2():
    BARRIER.wait()
    return 2


def test_two_independent_step_functions_run_in_parallel(sy):
    BARRIER.reset()
    ex = Pipeline("fparallel", steps=[p1(), p2()],
                  parallelism_config=ParallelismConfiguration(2)).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]


ACTIVE = {"now": 0, "max": 0}
ACTIVE_LOCK = threading.Lock()


def _track(value):
    with ACTIVE_LOCK:
        ACTIVE["now"] += 1
        ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
    time.sleep(0.2)      # a window in which a second step, if started, would be counted
    with ACTIVE_LOCK:
        ACTIVE["now"] -= 1
    return value


@step(name="S1")
def s1():
    return _track(1)


@step(name="S2")
def s2():
    return _track(2)


def test_parallelism_configuration_limits_concurrency(sy):
    ACTIVE.update(now=0, max=0)
    ex = Pipeline("serial", steps=[s1(), s2()]).start(
        parallelism_config=ParallelismConfiguration(1))
    assert ex.wait() == "Succeeded"
    assert ACTIVE["max"] == 1                    # never two at once
    ACTIVE.update(now=0, max=0)
    assert Pipeline("both", steps=[s1(), s2()], parallelism_config=ParallelismConfiguration(
        2)).start().wait() == "Succeeded"        # the same steps do overlap when allowed
    assert ACTIVE["max"] == 2


TAGGER = """
import os, pathlib, sys, time
tag = sys.argv[sys.argv.index("--tag") + 1]
out = pathlib.Path("/opt/ml/processing/out")
before = sorted(os.listdir(out))
(out / "tag.txt").write_text(tag)
meet = pathlib.Path(MEET)
(meet / tag).write_text("here")
deadline = time.monotonic() + 60
while len(os.listdir(meet)) < 3:   # all three executions' jobs are live at once
    if time.monotonic() > deadline:
        sys.exit(f"{tag}: the other executions never arrived")
    time.sleep(0.02)
(out / "seen.txt").write_text(repr(before) + " " + (out / "tag.txt").read_text())
"""


def test_two_executions_of_one_pipeline_run_concurrently_without_interfering(sy):
    meet = sy.tmp / "meet"
    meet.mkdir()
    code = sy.write("code/tag.py", TAGGER, MEET=str(meet))
    tag = ParameterString("Tag", default_value="none")
    p = Pipeline("twice", parameters=[tag], steps=[ProcessingStep(
        "Tag", processor=PY, code=str(code), job_arguments=["--tag", tag],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])])
    results = {}

    def go(value):
        ex = p.start({"Tag": value})
        results[value] = (ex, ex.wait())

    threads = [threading.Thread(target=go, args=(v,)) for v in ("red", "blue", "blue2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert {v: r[1] for v, r in results.items()} == {"red": "Succeeded", "blue": "Succeeded",
                                                     "blue2": "Succeeded"}
    run_ids = {r[0].run_id for r in results.values()}
    assert len(run_ids) == 3
    for value, (ex, _) in results.items():
        meta = ex.list_steps()[0]["Metadata"]
        uri = meta["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"]["S3Uri"]
        folder = artifacts.uri_to_path(uri)
        assert (folder / "tag.txt").read_text() == value
        assert (folder / "seen.txt").read_text() == f"[] {value}"
        assert engine.describe_run(ex.run_id)["parameters"] == {"Tag": value}


CONST = """
import pathlib, time
time.sleep(0.3)
pathlib.Path("/opt/ml/processing/out/const.txt").write_text("identical bytes")
"""


def test_concurrent_runs_with_identical_outputs_share_one_artifact(sy):
    code = sy.write("code/const.py", CONST)
    p = Pipeline("same", steps=[ProcessingStep("C", processor=PY, code=str(code), outputs=[
        ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])])
    executions = [p.start() for _ in range(3)]
    assert [ex.wait() for ex in executions] == ["Succeeded"] * 3
    uris = {ex.list_steps()[0]["Metadata"]["ProcessingOutputConfig"]["Outputs"]["out"]
            ["S3Output"]["S3Uri"] for ex in executions}
    assert len(uris) == 1
    trees = list((sy.home / "artifacts" / "trees").iterdir())
    assert len(trees) == 1
    leftovers = list((sy.home / "artifacts" / "tmp").rglob("*")) \
        if (sy.home / "artifacts" / "tmp").exists() else []
    assert leftovers == []


def test_default_parallelism_follows_the_cpu_affinity_not_the_machine(sy):
    """A process pinned to one CPU (taskset, a container's cpuset) runs one step at a time
    by default; os.cpu_count() would have said the machine's total."""
    import subprocess
    import sys

    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from stackyard.workflow import ParallelismConfiguration; "
            "from stackyard._home import cpu_count; "
            "print(cpu_count(), ParallelismConfiguration().max_parallel_execution_steps)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.split() == ["1", "1"]
