"""requirements.txt in source_dir installs once into a cached virtual environment.

Everything is offline: the requirement is a tiny wheel built here by hand, installed with
``PIP_NO_INDEX=1``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from stackyard import artifacts
from stackyard.jobs import Estimator
from stackyard.workflow import ParallelismConfiguration, Pipeline, TrainingStep

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TRAIN = """
import json, os, pathlib, sys
import tinypkg
try:
    import stackyard.jobs
    has_stackyard = True
except ImportError:
    has_stackyard = False
print("using", sys.executable)
pathlib.Path(os.environ["SM_MODEL_DIR"], "r.json").write_text(json.dumps({
    "tinypkg": tinypkg.VALUE, "executable": sys.executable, "prefix": sys.prefix,
    "stackyard": has_stackyard}))
"""


def build_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (PEP 427) for the package ``tinypkg``."""
    files = {
        "tinypkg/__init__.py": "VALUE = 42\n",
        "tinypkg-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n",
        "tinypkg-0.1.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: stackyard-tests\n"
                                        "Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = []
    path = folder / "tinypkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            data = text.encode()
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append("tinypkg-0.1.dist-info/RECORD,,")
        z.writestr("tinypkg-0.1.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def _result(ex, step_name):
    meta = {s["StepName"]: s for s in ex.list_steps()}[step_name]
    assert meta["StepStatus"] == "Succeeded", meta["FailureReason"]
    import io
    import tarfile

    data = artifacts.uri_to_path(meta["Metadata"]["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(fileobj=io.BytesIO(data.read_bytes()), mode="r:gz") as tar:
        return json.loads(tar.extractfile("r.json").read())


@pytest.fixture(scope="module")
def venv_runs(tmp_path_factory):
    """Two parallel training jobs sharing one requirements.txt, then a second run."""
    root = tmp_path_factory.mktemp("requirements")
    home = root / "home"
    src = root / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    build_wheel(src)
    (src / "requirements.txt").write_text("./tinypkg-0.1-py3-none-any.whl\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STACKYARD_HOME", str(home))
        mp.setenv("PIP_NO_INDEX", "1")
        mp.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        steps = [TrainingStep(n, estimator=Estimator(entry_point="train.py", source_dir=str(src)))
                 for n in ("A", "B")]
        first = Pipeline("venv", steps=steps,
                         parallelism_config=ParallelismConfiguration(2)).start()
        assert first.wait() == "Succeeded", first.describe()["failure_reason"]
        second = Pipeline("venv2", steps=[TrainingStep("C", estimator=Estimator(
            entry_point="train.py", source_dir=str(src)))]).start()
        assert second.wait() == "Succeeded", second.describe()["failure_reason"]
        logs = {}
        for ex, names in ((first, "AB"), (second, "C")):
            for n in names:
                logs[n] = (home / "runs" / ex.run_id / "jobs" / n / "attempt-1" /
                           "log.txt").read_text()
        results = {"A": _result(first, "A"), "B": _result(first, "B"),
                   "C": _result(second, "C")}
    return {"home": home, "logs": logs, "results": results}


def test_requirements_are_installed_into_a_venv_under_home(venv_runs):
    venvs = [p for p in (venv_runs["home"] / "venvs").iterdir() if p.is_dir()]
    assert len(venvs) == 1
    assert (venvs[0] / ".ready").exists()
    for r in venv_runs["results"].values():
        assert r["tinypkg"] == 42
        assert r["executable"] == str(venvs[0] / "bin" / "python")
        assert r["prefix"] == str(venvs[0])


def test_the_venv_is_created_once_and_reused(venv_runs):
    logs = venv_runs["logs"]
    created = [n for n, text in logs.items() if "creating environment" in text]
    reused = [n for n, text in logs.items() if "using cached environment" in text]
    assert len(created) == 1, "concurrent jobs must wait on the lock, not install twice"
    assert sorted(created + reused) == ["A", "B", "C"]
    assert "C" in reused
    assert "Successfully installed tinypkg-0.1" in logs[created[0]]


def test_stackyard_stays_importable_in_the_requirements_venv(venv_runs):
    """Regression: a requirements venv built from a virtualenv used to lose stackyard and its
    libraries.
    """
    assert venv_runs["results"]["A"]["stackyard"] is True


def test_a_bad_requirement_fails_the_step_and_is_not_cached(sy, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sy.write("src/train.py", "print('never runs')\n")
    sy.write("src/requirements.txt", "definitely-not-a-real-package-xyz==9.9.9\n")
    t = TrainingStep("T", estimator=Estimator(entry_point="train.py",
                                              source_dir=str(sy.work / "src")))
    ex = Pipeline("badreq", steps=[t]).start()
    assert ex.wait() == "Failed"
    reason = ex.list_steps()[0]["FailureReason"]
    assert "requirements.txt" in reason and "failed" in reason
    venvs = sy.home / "venvs"
    assert not list(venvs.glob("*/.ready"))
    log = (sy.home / "runs" / ex.run_id / "jobs" / "T" / "attempt-1" / "log.txt").read_text()
    assert "definitely-not-a-real-package-xyz" in log
    assert "never runs" not in log
