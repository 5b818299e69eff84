"""The launcher's edges: its own failure is visible in the job log; detached starts get a
session of their own, the inherited environment plus what they set, and a private log."""

from __future__ import annotations

import stat
import sys

from stackyard import runtime


def _noop_spec(sy):
    script = sy.write("noop.py", "print('ran')\n")
    return runtime.processing_spec("noop", {
        "AppSpecification": {"ContainerEntrypoint": [
            "python3", "/opt/ml/processing/input/code/noop.py"]},
        "ProcessingInputs": [{"InputName": "code", "S3Input": {
            "S3Uri": script.as_uri(), "LocalPath": "/opt/ml/processing/input/code"}}]})


def test_a_launcher_that_cannot_read_its_job_says_why_in_the_log(sy):
    job_dir = sy.tmp / "job"
    runtime.prepare(_noop_spec(sy), job_dir)
    (job_dir / "job.json").write_text('{"argv": [')  # cut short
    result = runtime.wait(job_dir, runtime.start(job_dir), None, None)
    assert not result.ok and result.error_type == "Killed"
    assert "Traceback" in result.reason and "_read_json" in result.reason


def test_a_job_runs_and_its_exit_is_recorded(sy):
    job_dir = sy.tmp / "job"
    runtime.prepare(_noop_spec(sy), job_dir)
    lines: list[str] = []
    result = runtime.wait(job_dir, runtime.start(job_dir), None, None, on_log=lines.append)
    assert result.ok, result.reason
    assert "ran" in lines
    # a second waiter (an adopting runner) on the finished job reads the same outcome
    pid, start = (job_dir / "launcher.pid").read_text().split()
    again = runtime.wait(job_dir, None, int(pid), start)
    assert again.ok and again.duration == result.duration


def test_start_detached(sy, monkeypatch):
    monkeypatch.setenv("INHERITED", "from the parent")
    log = sy.tmp / "detached.log"
    code = ("import os; print(os.getsid(0) == os.getpid(), os.environ['INHERITED'], "
            "os.environ['ADDED'])")
    proc = runtime.start_detached([sys.executable, "-c", code], log, {"ADDED": "set"})
    assert proc.wait(timeout=60) == 0
    assert log.read_text() == "True from the parent set\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
