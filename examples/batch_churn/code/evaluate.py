"""Processing job: score the trained model on the held-out test split.

Writes ``evaluation.json`` in SageMaker's binary-classification metrics shape (read by the
pipeline through a PropertyFile + JsonGet, and registered with the model version).
"""

import json
import os
import sys
import tarfile

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

BASE = "/opt/ml/processing"


def extract(archive, folder):
    """Unpack the model archive after checking every member: regular files and folders
    only, relative paths that stay inside ``folder``."""
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            parts = m.name.replace("\\", "/").split("/")
            if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in parts:
                sys.exit(f"refusing model archive member {m.name!r}")
        tar.extractall(folder, filter="data")


if __name__ == "__main__":
    model_dir = os.path.join(BASE, "model")
    extract(os.path.join(model_dir, "model.tar.gz"), model_dir)
    sys.path.insert(0, os.path.join(BASE, "code"))
    from train import model_fn, predict_fn  # the serving code is what we evaluate

    test = pd.read_csv(os.path.join(BASE, "test", "test.csv"), header=None)
    X, y = test.iloc[:, 1:].to_numpy(dtype=float), test.iloc[:, 0].to_numpy(dtype=int)
    probability = predict_fn(X, model_fn(model_dir))
    predicted = (probability >= 0.5).astype(int)
    metrics = {"accuracy": accuracy_score(y, predicted), "auc": roc_auc_score(y, probability),
               "f1": f1_score(y, predicted)}
    report = {"binary_classification_metrics": {k: {"value": float(v)}
                                                for k, v in metrics.items()},
              "rows": len(y)}
    os.makedirs(os.path.join(BASE, "evaluation"), exist_ok=True)
    with open(os.path.join(BASE, "evaluation", "evaluation.json"), "w") as f:
        json.dump(report, f)
    print(" ".join(f"test {k}={v:.4f}" for k, v in metrics.items()))
