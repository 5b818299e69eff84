"""A tiny linear model with the SageMaker inference functions: fast to load, no pickle."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

INFERENCE = '''
import json, os, time
import numpy as np

def model_fn(model_dir):
    with open(os.path.join(model_dir, "coef.json")) as f:
        return json.load(f)

def predict_fn(data, model):
    if model.get("sleep"):
        time.sleep(model["sleep"])
    x = np.asarray(data, dtype=float)
    if model.get("fail_nonzero") and np.abs(x).sum() > 0:
        raise RuntimeError("this version is broken")
    return x @ np.asarray(model["coef"]) + model["bias"]
'''


def write_model(root: Path, coef: list[float], bias: float, **extra) -> tuple[Path, Path]:
    """(model.tar.gz, code folder)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "coef.json").write_text(json.dumps({"coef": coef, "bias": bias, **extra}))
    tar = root / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(root / "coef.json", arcname="coef.json")
    code = root / "code"
    code.mkdir(exist_ok=True)
    (code / "inference.py").write_text(INFERENCE)
    return tar, code


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    yield tmp_path
    from stackyard import serving

    for ep in serving.list_endpoints():  # never leave servers behind
        serving.delete_endpoint(ep["name"])


@pytest.fixture
def register(home: Path):
    from stackyard.jobs import Model
    from stackyard.registry import ModelRegistry

    def make(group: str, coef: list[float], bias: float, approve: bool = True, **extra) -> str:
        n = len(list(home.glob(f"m-{group}-*")))
        tar, code = write_model(home / f"m-{group}-{n}", coef, bias, **extra)
        pkg = Model(model_data=str(tar), entry_point="inference.py",
                    source_dir=str(code)).register(model_package_group_name=group,
                                                   content_types=["text/csv",
                                                                  "application/json"],
                                                   response_types=["text/csv",
                                                                   "application/json"])
        if approve:
            ModelRegistry().update_approval(pkg.ref, "Approved")
        return pkg.ref

    return make
