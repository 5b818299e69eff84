"""command=["python3"] means stackyard's own interpreter, never PATH's python."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from stackyard import artifacts
from stackyard.jobs import Estimator, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, TrainingStep


@pytest.fixture
def fake_python_first_on_path(sy, monkeypatch):
    bin_dir = sy.tmp / "fakebin"
    bin_dir.mkdir()
    for name in ("python3", "python"):
        fake = bin_dir / name
        fake.write_text("#!/bin/sh\necho 'fake python was used' >&2\nexit 3\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


REPORT = """
import os, pathlib, shutil, sys
print("executable:", sys.executable)
pathlib.Path(OUT).write_text(sys.executable + "\\n" + (shutil.which("python3") or ""))
"""


@pytest.mark.parametrize("command", [["python3"], ["python"]])
def test_processing_python_is_stackyards_interpreter(sy, fake_python_first_on_path, command):
    code = sy.write("code/report.py", REPORT.replace("OUT", '"/opt/ml/processing/out/exe"'))
    s = ProcessingStep("Exe", processor=ScriptProcessor(command=command), code=str(code),
                       outputs=[ProcessingOutput(output_name="out",
                                                 source="/opt/ml/processing/out")])
    ex = Pipeline("interp", steps=[s]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    uri = ex.list_steps()[0]["Metadata"]["ProcessingOutputConfig"]["Outputs"]["out"][
        "S3Output"]["S3Uri"]
    exe, on_path = (artifacts.uri_to_path(uri) / "exe").read_text().split("\n")
    assert exe == sys.executable
    assert on_path == str(fake_python_first_on_path / "python3")   # the trap was armed
    log = sy.home / "runs" / ex.run_id / "jobs" / "Exe" / "attempt-1" / "log.txt"
    assert f"executable: {sys.executable}" in log.read_text()
    assert "fake python was used" not in log.read_text()


def test_training_python_is_stackyards_interpreter(sy, fake_python_first_on_path):
    sy.write("src/train.py", REPORT.replace("OUT", 'os.environ["SM_MODEL_DIR"] + "/exe"'))
    t = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                  source_dir=str(sy.work / "src")))
    ex = Pipeline("interp-train", steps=[t]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    log = sy.home / "runs" / ex.run_id / "jobs" / "Train" / "attempt-1" / "log.txt"
    assert f"executable: {sys.executable}" in log.read_text()


def test_a_command_that_does_not_exist_fails_the_step(sy):
    code = sy.write("code/x.py", "print('never')\n")
    s = ProcessingStep("Missing", processor=ScriptProcessor(command=["no-such-binary-xyz"]),
                       code=str(code))
    ex = Pipeline("nocmd", steps=[s]).start()
    assert ex.wait() == "Failed"
    reason = ex.list_steps()[0]["FailureReason"]
    assert "code 127" in reason and "no-such-binary-xyz" in reason
