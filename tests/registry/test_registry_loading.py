"""Loading a registered version: code and weights are checked against their recorded
hashes on every load, each version's code lives in its own namespace, and a reference
always means the registry."""

from __future__ import annotations

import gc
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from stackyard import artifacts, serving
from stackyard.errors import IntegrityError, UsageError
from stackyard.jobs import Model
from stackyard.registry import ModelRegistry
from stackyard.serving._control import model_spec
from stackyard.serving._fleet import load_model

EXE = str(Path(sys.executable).parent / "stackyard")
INFERENCE = """
import json, os
import numpy as np
import utils

def model_fn(model_dir):
    with open(os.path.join(model_dir, "coef.json")) as f:
        return json.load(f)

def predict_fn(data, model):
    return np.asarray(data, dtype=float).sum(axis=1) * model["scale"] + utils.OFFSET
"""


def _register(root: Path, scale: float, offset: float, approve: bool = True) -> str:
    """A version whose inference.py imports its own utils.py (OFFSET differs per version)."""
    code = root / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(INFERENCE)
    (code / "utils.py").write_text(f"OFFSET = {offset}\n")
    (root / "coef.json").write_text(json.dumps({"scale": scale}))
    with tarfile.open(root / "model.tar.gz", "w:gz") as t:
        t.add(root / "coef.json", arcname="coef.json")
    (root / "sample.csv").write_text("1,2,3\n")  # what a blue/green update health-checks
    pkg = Model(model_data=str(root / "model.tar.gz"), entry_point="inference.py",
                source_dir=str(code)).register(model_package_group_name="g",
                                               sample_payload_url=str(root / "sample.csv"))
    if approve:
        ModelRegistry().update_approval(pkg.ref, "Approved")
    return pkg.ref


ROW = np.array([[1.0, 2.0, 3.0]])


def test_two_versions_in_one_process_each_run_their_own_utils(tmp_path: Path) -> None:
    v1 = _register(tmp_path / "v1", 1.0, 0.0)
    v2 = _register(tmp_path / "v2", 1.0, 1000.0)
    path_before = list(sys.path)
    h1 = load_model({"ref": v1}, False)
    h2 = load_model({"ref": v2}, False)
    assert h1.predict_array(ROW).tolist() == [6.0]
    assert h2.predict_array(ROW).tolist() == [1006.0]
    assert "utils" not in sys.modules and sys.path == path_before


def test_tampered_inference_code_never_runs(tmp_path: Path) -> None:
    ref = _register(tmp_path / "v", 1.0, 0.0)
    code_uri = ModelRegistry().describe(ref)["inference_spec"]["code_uri"]
    stored = artifacts.uri_to_path(code_uri) / "inference.py"
    stored.chmod(stored.stat().st_mode | stat.S_IWUSR)
    marker = tmp_path / "ran.txt"
    with stored.open("a") as f:
        f.write(f"\nopen({str(marker)!r}, 'w').write('tampered code ran')\n")
    with pytest.raises(IntegrityError, match="modified after it was stored"):
        load_model({"ref": ref}, False)
    with pytest.raises(IntegrityError, match="modified after it was stored"):
        ModelRegistry().download(ref, tmp_path / "dl")
    assert not marker.exists() and not (tmp_path / "dl").exists()


def test_tampered_stored_weights_are_refused(tmp_path: Path) -> None:
    ref = _register(tmp_path / "v", 1.0, 0.0)
    archive = artifacts.uri_to_path(ModelRegistry().describe(ref)["model_data"])
    archive.chmod(0o644)
    with tarfile.open(archive, "w:gz") as t:            # a valid archive, other weights
        (tmp_path / "coef.json").write_text(json.dumps({"scale": 99.0}))
        t.add(tmp_path / "coef.json", arcname="coef.json")
    with pytest.raises(IntegrityError, match="modified after it was stored"):
        load_model({"ref": ref}, False)


def test_nothing_unpacked_is_reused_and_nothing_is_left_behind(tmp_path: Path,
                                                                stackyard_home: Path) -> None:
    ref = _register(tmp_path / "v", 2.0, 0.0)
    models = stackyard_home / "serving" / "models"
    models.mkdir(parents=True)
    dead = models / "999999999-12345-deadbeef"           # a killed server's folder
    dead.mkdir()
    old_cache = models / f"g-1-{'0' * 12}"              # an old-style shared cache
    old_cache.mkdir()
    first = load_model({"ref": ref}, False)
    assert not dead.exists() and not old_cache.exists()
    (first.model_dir / "coef.json").write_text(json.dumps({"scale": 99.0}))  # edit weights
    second = load_model({"ref": ref}, False)
    assert second.model_dir != first.model_dir
    assert second.predict_array(ROW).tolist() == [12.0]  # the registered weights, not edits
    folders = {first.model_dir, second.model_dir}
    del first, second
    gc.collect()
    assert not any(f.exists() for f in folders)


def test_registered_code_wins_and_what_it_writes_stays_private(tmp_path: Path) -> None:
    root = tmp_path / "v"
    code = root / "code"
    code.mkdir(parents=True)
    (code / "inference.py").write_text(
        "import os, pathlib\n"
        "def model_fn(model_dir):\n"
        "    pathlib.Path(__file__).with_name('compiled.cache').write_text('x')\n"
        "    return sorted(os.listdir(os.path.join(model_dir, 'code')))\n"
        "def predict_fn(data, model):\n"
        "    return [len(model)] * len(data)\n")
    (root / "stale").mkdir()
    (root / "stale" / "inference.py").write_text("raise SystemExit('the packed copy ran')\n")
    with tarfile.open(root / "model.tar.gz", "w:gz") as t:   # a repacked archive: code/ inside
        t.add(root / "stale" / "inference.py", arcname="code/inference.py")
    ref = Model(model_data=str(root / "model.tar.gz"), entry_point="inference.py",
                source_dir=str(code)).register(model_package_group_name="w").ref
    for _ in range(2):                   # the second load finds the stored code unchanged
        h = load_model({"ref": ref}, allow_unapproved=True)
        assert h.model == ["compiled.cache", "inference.py"]
    code_uri = ModelRegistry().describe(ref)["inference_spec"]["code_uri"]
    assert artifacts.verify(code_uri)


def test_references_always_mean_the_registry(tmp_path: Path, monkeypatch) -> None:
    ref = _register(tmp_path / "v", 1.0, 0.0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g" / "1").mkdir(parents=True)          # a folder named like the reference
    assert model_spec("g/1") == {"ref": "g/1"}
    assert model_spec("./g/1")["dir"] == str((tmp_path / "g" / "1").resolve())
    for bad in ("g/²", "g/١", "g/0", "g/1x"):
        with pytest.raises(UsageError):
            model_spec(bad)
        with pytest.raises(UsageError, match="GROUP/VERSION"):
            ModelRegistry().describe(bad)
    out = subprocess.run([EXE, "models", "describe", "g/١"], check=False, capture_output=True,
                         text=True)
    assert out.returncode == 2 and "GROUP/VERSION" in out.stderr
    assert "Traceback" not in out.stderr
    assert ModelRegistry().describe(ref)["ref"] == "g/1"


@pytest.mark.slow
def test_one_endpoint_serves_two_versions_with_their_own_utils(tmp_path: Path) -> None:
    v1 = _register(tmp_path / "v1", 1.0, 0.0)
    v2 = _register(tmp_path / "v2", 1.0, 1000.0)
    v3 = _register(tmp_path / "v3", 1.0, 5.0)
    variants = [{"name": "A", "model": {"ref": v1}, "weight": 1.0},
                {"name": "B", "model": {"ref": v2}, "weight": 1.0}]
    d = serving.create_endpoint("utils-apart", variants)
    try:
        def ask(target: str) -> float:
            r = httpx.post(f"{d['url']}/invocations", content=b"1,2,3", timeout=30,
                           headers={"Content-Type": "text/csv", "X-Target-Variant": target})
            assert r.status_code == 200, r.text
            return float(r.text)

        assert (ask("A"), ask("B"), ask("A")) == (6.0, 1006.0, 6.0)
        res = serving.update_endpoint("utils-apart", [
            {"name": "A", "model": {"ref": v3}, "weight": 1.0},
            {"name": "B", "model": {"ref": v2}, "weight": 1.0}], bake_seconds=0.2)
        assert res["deployment"]["status"] == "Completed", res["deployment"]
        assert (ask("A"), ask("B")) == (11.0, 1006.0)     # blue/green: v3 runs v3's utils
    finally:
        serving.delete_endpoint("utils-apart")
    assert os.listdir(Path(os.environ["STACKYARD_HOME"]) / "serving" / "models") == []
