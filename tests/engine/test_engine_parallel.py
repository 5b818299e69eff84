"""Independent steps run at the same time; executions never interfere with each other."""

from __future__ import annotations

import json
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

SLEEPER = """
import json, time, pathlib
start = time.time()
time.sleep(SECONDS)
pathlib.Path("/opt/ml/processing/out/span.json").write_text(json.dumps([start, time.time()]))
"""


def _sleeper(sy, name, seconds):
    code = sy.write(f"code/{name}.py", SLEEPER, SECONDS=seconds)
    return ProcessingStep(name, processor=PY, code=str(code), outputs=[
        ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])


def _span(ex, name):
    meta = {s["StepName"]: s["Metadata"] for s in ex.list_steps()}[name]
    uri = meta["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"]["S3Uri"]
    return json.loads((artifacts.uri_to_path(uri) / "span.json").read_text())


def test_two_independent_one_second_jobs_run_in_parallel(sy):
    p = Pipeline("parallel", steps=[_sleeper(sy, "A", 1.0), _sleeper(sy, "B", 1.0)],
                 parallelism_config=ParallelismConfiguration(2))
    t0 = time.monotonic()
    ex = p.start()
    assert ex.wait() == "Succeeded"
    wall = time.monotonic() - t0
    assert wall < 1.7, f"two 1 s jobs took {wall:.2f}s"
    a, b = _span(ex, "A"), _span(ex, "B")
    assert a[0] < b[1] and b[0] < a[1]          # the jobs' own clocks overlap


SPANS: dict[str, list[float]] = {}


@step(name="S1")
def s1():
    t = time.time()
    time.sleep(1.0)
    SPANS["S1"] = [t, time.time()]
    return 1


@step(name="S2")
def s2():
    t = time.time()
    time.sleep(1.0)
    SPANS["S2"] = [t, time.time()]
    return 2


def test_two_independent_one_second_step_functions_run_in_parallel(sy):
    SPANS.clear()
    t0 = time.monotonic()
    ex = Pipeline("fparallel", steps=[s1(), s2()],
                  parallelism_config=ParallelismConfiguration(2)).start()
    assert ex.wait() == "Succeeded"
    assert time.monotonic() - t0 < 1.7
    a, b = SPANS["S1"], SPANS["S2"]
    assert a[0] < b[1] and b[0] < a[1]


def test_parallelism_configuration_limits_concurrency(sy):
    SPANS.clear()
    t0 = time.monotonic()
    ex = Pipeline("serial", steps=[s1(), s2()]).start(
        parallelism_config=ParallelismConfiguration(1))
    assert ex.wait() == "Succeeded"
    assert time.monotonic() - t0 >= 2.0
    a, b = sorted([SPANS["S1"], SPANS["S2"]])
    assert a[1] <= b[0]                          # one after the other


TAGGER = """
import pathlib, sys, time, os
tag = sys.argv[sys.argv.index("--tag") + 1]
out = pathlib.Path("/opt/ml/processing/out")
before = sorted(os.listdir(out))
(out / "tag.txt").write_text(tag)
time.sleep(0.5)
(out / "seen.txt").write_text(repr(before) + " " + (out / "tag.txt").read_text())
"""


def test_two_executions_of_one_pipeline_run_concurrently_without_interfering(sy):
    code = sy.write("code/tag.py", TAGGER)
    tag = ParameterString("Tag", default_value="none")
    p = Pipeline("twice", parameters=[tag], steps=[ProcessingStep(
        "Tag", processor=PY, code=str(code), job_arguments=["--tag", tag],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])])
    results = {}

    def go(value):
        ex = p.start({"Tag": value})
        results[value] = (ex, ex.wait())

    threads = [threading.Thread(target=go, args=(v,)) for v in ("red", "blue", "blue2")]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert time.monotonic() - t0 < 1.5 * 3          # not serialised behind one another
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
    leftovers = [p for p in (sy.home / "artifacts" / "tmp").rglob("*")] \
        if (sy.home / "artifacts" / "tmp").exists() else []
    assert leftovers == []
