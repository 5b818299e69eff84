"""The caller's environment reaches the job but is never written down: not in job.json,
not in the database, not in logs or ``--json`` output; state files are private (0600)."""

from __future__ import annotations

import hashlib
import json
import stat

from stackyard.jobs import Estimator, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, TrainingStep

SECRET = "sekrit-123"
# the jobs compare a hash: their own code is stored too, so it may not hold the secret
SECRET_SHA = hashlib.sha256(SECRET.encode()).hexdigest()

SEES = """
import hashlib, os, pathlib
from inherited_lib import VALUE
out = pathlib.Path("/opt/ml/processing/out")
out.joinpath("seen.json").write_text(__import__("json").dumps({
    "secret_seen": hashlib.sha256(os.environ["AWS_SECRET_ACCESS_KEY"].encode()).hexdigest()
    == SECRET_SHA,
    "spec_var": os.environ.get("FROM_SPEC"), "inherited_lib": VALUE}))
print("the job ran")
"""

TRAIN = """
import hashlib, json, os, pathlib
import helper                      # from /opt/ml/code, the spec's PYTHONPATH
from inherited_lib import VALUE    # from the caller's PYTHONPATH, appended
pathlib.Path(os.environ["SM_MODEL_DIR"], "seen.json").write_text(json.dumps({
    "secret_seen": hashlib.sha256(os.environ["AWS_SECRET_ACCESS_KEY"].encode()).hexdigest()
    == SECRET_SHA,
    "helper": helper.NAME, "inherited_lib": VALUE}))
"""


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_environment_reaches_the_job_but_no_file_or_output(sy, monkeypatch):
    lib = sy.tmp / "lib"
    lib.mkdir()
    (lib / "inherited_lib.py").write_text("VALUE = 'from the parent PYTHONPATH'\n")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("PYTHONPATH", str(lib))
    script = sy.write("code/sees.py", SEES, SECRET_SHA=SECRET_SHA)
    sy.write("src/train.py", TRAIN, SECRET_SHA=SECRET_SHA)
    sy.write("src/helper.py", "NAME = 'helper from /opt/ml/code'\n")
    proc = ProcessingStep("Sees", processor=ScriptProcessor(command=["python3"],
                                                            env={"FROM_SPEC": "set"}),
                          code=str(script), outputs=[ProcessingOutput(
                              output_name="out", source="/opt/ml/processing/out")])
    train = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                      source_dir=str(sy.work / "src")))
    ex = Pipeline("secrets", steps=[proc, train]).start()
    assert ex.wait() == "Succeeded", ex.list_steps()

    jobs = sy.home / "runs" / ex.run_id / "jobs"
    seen = json.loads(next(sy.home.joinpath("artifacts").rglob("seen.json")).read_text())
    assert seen == {"secret_seen": True, "spec_var": "set",
                    "inherited_lib": "from the parent PYTHONPATH"}
    model_dir = next(jobs.glob("Train/attempt-*/ml/model"))
    assert json.loads((model_dir / "seen.json").read_text()) == {
        "secret_seen": True, "helper": "helper from /opt/ml/code",
        "inherited_lib": "from the parent PYTHONPATH"}
    spec = json.loads(next(jobs.glob("Sees/attempt-*/job.json")).read_text())
    assert spec["env"]["FROM_SPEC"] == "set" and "AWS_SECRET_ACCESS_KEY" not in spec["env"]

    described = sy.cli("runs", "describe", ex.run_id, "--json")
    logs = sy.cli("runs", "logs", ex.run_id)
    assert described.returncode == 0 and logs.returncode == 0, described.stderr + logs.stderr
    assert "the job ran" in logs.stdout
    for out in (described.stdout, described.stderr, logs.stdout, logs.stderr):
        assert SECRET not in out
    leaks = [p for p in sy.home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaks == []

    assert _mode(sy.home) == 0o700
    for db in sy.home.glob("stackyard.db*"):  # -wal and -shm take the database's mode
        assert _mode(db) == 0o600, db
    for job_dir in jobs.glob("*/attempt-*"):
        for name in ("job.json", "exit.json", "log.txt", "launcher.pid"):
            assert _mode(job_dir / name) == 0o600, job_dir / name
