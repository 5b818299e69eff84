"""``TransformStep`` and ``ModelStep(step_args=model.create())`` in a pipeline: a created
model (a property reference) or a registered ``GROUP/VERSION`` transforms files, a later
step reads ``TransformOutput.S3OutputPath``, and a transform killed with ``kill -9``
resumes on ``runs resume`` without redoing a finished file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from transform_helpers import BIAS, COEF, calls, csv_file, predict, write_model

from stackyard import engine
from stackyard._checks import uri_to_path
from stackyard.jobs import Model, Transformer
from stackyard.workflow import (
    FailStep,
    Join,
    ModelStep,
    ParameterString,
    Pipeline,
    PipelineSession,
    TransformStep,
)

ROWS = {"part-00.csv": [[0, 1, 2], [0, 3, 4]], "part-01.csv": [[1, 5, 6], [999, 1, 1]]}


def _inputs(folder: Path) -> Path:
    for name, rows in ROWS.items():
        csv_file(folder / name, rows)
    return folder


def _expected(name: str) -> list[str]:
    return [repr(predict(COEF, BIAS, r)) for r in ROWS[name]]


def _run(pipeline: Pipeline, **params: Any) -> tuple[str, dict[str, Any]]:
    execution = pipeline.start(parameters=params or None)
    execution.wait()
    run = engine.describe_run(execution.run_id)
    return run["status"], {s["name"]: s for s in run["steps"]}


def test_a_created_model_transforms_and_a_later_step_reads_the_output(tmp_path, tx_log, sy):
    tar, code = write_model(tmp_path / "model é", COEF, BIAS)
    session = PipelineSession()
    create = ModelStep("CreateModel", step_args=Model(
        model_data=str(tar), entry_point="inference.py", source_dir=str(code),
        sagemaker_session=session).create())
    data = ParameterString("Data", default_value=str(_inputs(tmp_path / "in put")))
    out = tmp_path / "published out"
    transform = TransformStep("Score", step_args=Transformer(
        create.properties.ModelName, assemble_with="Line", output_path=str(out),
        sagemaker_session=session).transform(data, content_type="text/csv",
                                             split_type="Line"))
    show = FailStep("Show", error_message=Join(on=" ", values=[
        transform.properties.TransformOutput.S3OutputPath, transform.properties.ModelName]))
    status, steps = _run(Pipeline("batch", parameters=[data], steps=[show]))
    assert status == "Failed" and steps["Score"]["status"] == "Succeeded"
    props = steps["Score"]["outputs"]
    model = steps["CreateModel"]["outputs"]["ModelName"]
    assert model.startswith("CreateModel-") and props["ModelName"] == model
    assert steps["Show"]["failure_reason"] == f"{props['TransformOutput']['S3OutputPath']} {model}"
    stored = uri_to_path(props["TransformOutput"]["S3OutputPath"])
    for name in ROWS:
        assert (stored / f"{name}.out").read_text().splitlines() == _expected(name)
        assert (out / f"{name}.out").read_text() == (stored / f"{name}.out").read_text()
    assert props["TransformOutput"]["Destination"] == out.resolve().as_uri()


def test_a_registered_version_transforms_and_a_rejected_one_fails_before_a_job(
        tmp_path, register, sy):
    ref = register("Approved")
    model = ParameterString("Model", default_value=ref)
    step = TransformStep("Score", step_args=Transformer(
        model, assemble_with="Line", sagemaker_session=PipelineSession()).transform(
        str(_inputs(tmp_path / "in")), content_type="text/csv", split_type="Line"))
    pipeline = Pipeline("batch-registered", parameters=[model], steps=[step])
    status, steps = _run(pipeline)
    assert status == "Succeeded", steps["Score"]["failure_reason"]
    from stackyard.registry import ModelRegistry

    ModelRegistry().update_approval(ref, "Rejected")
    status, steps = _run(pipeline)
    assert status == "Failed"
    assert "is Rejected and cannot be used for batch transform" in steps["Score"][
        "failure_reason"]
    assert steps["Score"]["attempts"] == 1


RUNNER = """
import json, sys
from stackyard import engine
engine.start_run(json.loads(open(sys.argv[1]).read()))
"""


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


@pytest.mark.timeout(180)
def test_kill_9_of_runner_job_and_workers_then_resume_redoes_no_finished_file(
        tmp_path, model_name, tx_log, sy, reaper, monkeypatch):
    gate = tmp_path / "gate"
    monkeypatch.setenv("TX_GATE", str(gate))      # the row starting 999 waits for it
    step = TransformStep("Score", step_args=Transformer(
        model_name, assemble_with="Line", sagemaker_session=PipelineSession()).transform(
        str(_inputs(tmp_path / "in")), content_type="text/csv", split_type="Line"))
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(Pipeline("killed", steps=[step]).definition_dict()))
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sy.wait_until(lambda: any(999 in c["first"] for c in calls(tx_log)), timeout=90,
                      what="the second file to be in flight")
        (launcher,) = sy.db_query("SELECT pid FROM attempts WHERE pid IS NOT NULL")[0]
        jobs = _children(launcher)
        assert jobs, "the launcher has no job process"
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(10)
    reaper.watch(launcher)
    os.kill(launcher, signal.SIGKILL)
    for job in jobs:
        os.killpg(job, signal.SIGKILL)                 # the transform and its workers
    sy.wait_until(lambda: not sy.pid_alive(launcher) and not any(
        sy.pid_alive(j) for j in jobs), what="every process of the transform to die")
    run_id = sy.db_query("SELECT run_id FROM runs")[0][0]
    done = sy.home / "runs" / run_id / "jobs" / "Score" / "transform" / "output"
    assert sorted(p.name for p in done.iterdir()) == ["part-00.csv.out"]
    tx_log.unlink()
    gate.write_text("open")
    assert engine.resume_run(run_id) == "Succeeded"
    assert {v for c in calls(tx_log) for v in c["first"]} == {1, 999}  # part-01 only
    out = engine.describe_run(run_id)["steps"][0]["outputs"]["TransformOutput"]
    stored = uri_to_path(out["S3OutputPath"])
    assert sorted(p.name for p in stored.iterdir()) == ["part-00.csv.out", "part-01.csv.out"]
    assert (stored / "part-01.csv.out").read_text().splitlines() == _expected("part-01.csv")
