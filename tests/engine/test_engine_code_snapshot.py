"""A run keeps running the ``@step`` code it started with.

When a run starts, the source file of each ``@step`` function goes into the content-addressed
store; a resume in a new process runs that snapshot (after checking its hash), not whatever
the file holds by then, and refuses code that is not what the run recorded.
"""

from __future__ import annotations

import os
import signal
import stat

import pytest

from stackyard import engine
from stackyard.cli._runs import load_pipeline

PIPELINE = """
import os, pathlib, time
from stackyard.workflow import Pipeline, step

HELPER_SUFFIX = "-helper-v1"

@step(name="Slow")
def slow():
    pathlib.Path(STARTED).write_text(str(os.getpid()))
    while os.path.exists(GATE):
        time.sleep(0.05)
    if os.path.exists(FAIL):
        raise RuntimeError("asked to fail")
    return "VERSION" + HELPER_SUFFIX

@step(name="After")
def after(x):
    return x + "!"

pipeline = Pipeline("snapshotted", steps=[after(slow())])
"""


def _write(sy, folder, version):
    return sy.write(f"{folder}/pipe.py", PIPELINE.replace("VERSION", version),
                    STARTED=str(sy.tmp / "started"), GATE=str(sy.tmp / "gate"),
                    FAIL=str(sy.tmp / "fail"))


def _run_id(sy):
    return sy.wait_until(lambda: (sy.db_query("SELECT run_id FROM runs") or [None])[0],
                         what="the run row")[0]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kill_9_during_a_step_then_edit_then_resume_runs_the_recorded_code(sy):
    """Regression: the resumed run imported the edited file and succeeded with the new
    code's result under the old pipeline version."""
    folder = "dir with space é"                  # paths with a space and non-ASCII
    (sy.tmp / "gate").write_text("closed")
    path = _write(sy, folder, "v1")
    runner = sy.cli_popen("run", path, "-q")
    sy.wait_until(lambda: (sy.tmp / "started").exists(), timeout=60, what="Slow to start")
    run_id = _run_id(sy)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)
    _write(sy, folder, "v2")                     # the user edits the function meanwhile
    (sy.tmp / "gate").unlink()
    r = sy.cli("runs", "resume", run_id, "-q", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    d = sy.cli_json("runs", "describe", run_id)
    assert d["status"] == "Succeeded"
    outputs = {s["name"]: s["outputs"] for s in d["steps"]}
    assert outputs == {"Slow": {"Result": "v1-helper-v1"},
                       "After": {"Result": "v1-helper-v1!"}}
    # the edited file runs as a new run (and a new pipeline version)
    r = sy.cli("run", path, "-q", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    latest = sy.cli_json("runs", "list")[0]["run_id"]
    d2 = sy.cli_json("runs", "describe", latest)
    assert {s["name"]: s["outputs"] for s in d2["steps"]}["Slow"] == {"Result": "v2-helper-v1"}
    assert d2["pipeline_version"] == d["pipeline_version"] + 1


def _failed_run(sy, version="v1"):
    """A run whose Slow step failed; the pipeline was loaded from a file, as the CLI does."""
    (sy.tmp / "fail").write_text("x")
    path = _write(sy, "code", version)
    ex = load_pipeline(path).start()
    assert ex.wait(timeout=60) == "Failed"
    (sy.tmp / "fail").unlink()
    return path, ex.run_id


def test_resume_in_a_new_process_uses_the_snapshot_not_the_edited_file(sy):
    path, run_id = _failed_run(sy)
    path.write_text(path.read_text().replace('HELPER_SUFFIX = "-helper-v1"',
                                             'HELPER_SUFFIX = "-helper-EDITED"'))
    r = sy.cli("runs", "resume", run_id, "-q", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert engine.step_result(run_id, "After") == "v1-helper-v1!"


def test_resume_refuses_a_snapshot_that_is_not_the_code_the_pipeline_was_defined_with(sy):
    """The file changed between building the pipeline and starting the run: the snapshot
    does not hold the recorded function, so the resume names the change instead of running
    other code."""
    (sy.tmp / "fail").write_text("x")
    path = _write(sy, "code", "v1")
    pipeline = load_pipeline(path)
    _write(sy, "code", "v2")                     # edited before start: the snapshot is v2
    ex = pipeline.start()
    assert ex.wait(timeout=60) == "Failed"
    (sy.tmp / "fail").unlink()
    r = sy.cli("runs", "resume", run_id := ex.run_id, "-q", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    d = engine.describe_run(run_id)
    assert d["status"] == "Failed"
    reason = {s["name"]: s["failure_reason"] for s in d["steps"]}["Slow"]
    assert "changed between defining the pipeline and starting the run" in reason
    assert str(path) in reason


def test_resume_refuses_a_tampered_snapshot(sy):
    _, run_id = _failed_run(sy)
    (snap,) = (sy.home / "artifacts" / "objects").rglob("pipe.py")
    snap.chmod(snap.stat().st_mode | stat.S_IWUSR)
    snap.write_text(snap.read_text().replace("v1", "v6"))
    r = sy.cli("runs", "resume", run_id, "-q", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    d = engine.describe_run(run_id)
    reason = {s["name"]: s["failure_reason"] for s in d["steps"]}["Slow"]
    assert "modified after it was stored" in reason and "pipe.py" in reason


def test_resume_in_process_with_edited_live_functions_uses_the_snapshot(sy):
    """Functions handed to resume_run are used only while they are the recorded code."""
    path, run_id = _failed_run(sy)
    _write(sy, "code", "v2")
    edited = load_pipeline(path)           # a fresh import of the edited file
    assert engine.resume_run(run_id, functions=edited.functions()) == "Succeeded"
    assert engine.step_result(run_id, "After") == "v1-helper-v1!"
