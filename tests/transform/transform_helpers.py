"""Helpers for the batch transform tests: a tiny linear model with SageMaker inference
functions that logs every prediction call (pid, rows, the first column of each row) and can
be made to wait on a gate file, so tests can see which records were transformed by which
process and can kill a transform at a known point.

A module of its own, not ``conftest``: several test folders have a ``conftest.py``."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

COEF, BIAS = [1.0, 2.0, 3.0], 0.5  # the test model: 1*x0 + 2*x1 + 3*x2 + 0.5
INFERENCE = '''
import json, os, time
import numpy as np


class Coef(dict):
    """The model's parameters; declares its width as scikit-learn models do."""


def model_fn(model_dir):
    with open(os.path.join(model_dir, "coef.json")) as f:
        model = Coef(json.load(f))
    model.n_features_in_ = len(model["coef"])
    return model


def predict_fn(data, model):
    x = np.asarray(data, dtype=float)
    log = os.environ.get("TX_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "rows": len(x),
                                "first": x[:, 0].tolist()}) + "\\n")
    gate = os.environ.get("TX_GATE")
    if gate and (x[:, 0] == 999).any():
        while not os.path.exists(gate):
            time.sleep(0.02)
    return x @ np.asarray(model["coef"]) + model["bias"]
'''


def write_model(folder: Path, coef: list[float], bias: float) -> tuple[Path, Path]:
    """``folder/model.tar.gz`` (holding coef.json) and ``folder/code/inference.py``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coef.json").write_text(json.dumps({"coef": coef, "bias": bias}))
    tar = folder / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(folder / "coef.json", "coef.json")
    code = folder / "code"
    code.mkdir(exist_ok=True)
    (code / "inference.py").write_text(INFERENCE)
    return tar, code


def predict(coef: list[float], bias: float, row: list[float]) -> float:
    return sum(c * v for c, v in zip(coef, row, strict=True)) + bias


def calls(log: Path) -> list[dict[str, Any]]:
    """Every logged prediction call."""
    return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []


def csv_file(path: Path, rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path
