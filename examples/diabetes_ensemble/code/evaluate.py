"""Processing job: score the trained ensemble on the held-out test split.

Writes ``evaluation.json`` (read by the pipeline through a PropertyFile + JsonGet).
"""

import json
import os
import sys
import tarfile

import numpy as np
import pandas as pd

BASE = "/opt/ml/processing"

if __name__ == "__main__":
    model_dir = os.path.join(BASE, "model")
    with tarfile.open(os.path.join(model_dir, "model.tar.gz")) as tar:
        tar.extractall(model_dir, filter="data")  # refuses absolute paths and links out
    sys.path.insert(0, os.path.join(BASE, "code"))
    from train import model_fn, predict_fn  # the serving code is what we evaluate

    test = pd.read_csv(os.path.join(BASE, "test", "test.csv"), header=None)
    X, y = test.iloc[:, 1:].to_numpy(), test.iloc[:, 0].to_numpy()
    pred = predict_fn(X, model_fn(model_dir))
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    mae = float(np.mean(np.abs(pred - y)))
    report = {"regression_metrics": {"rmse": {"value": rmse}, "mae": {"value": mae}},
              "rows": len(y)}
    os.makedirs(os.path.join(BASE, "evaluation"), exist_ok=True)
    with open(os.path.join(BASE, "evaluation", "evaluation.json"), "w") as f:
        json.dump(report, f)
    print(f"test rmse={rmse:.3f} mae={mae:.3f}")
