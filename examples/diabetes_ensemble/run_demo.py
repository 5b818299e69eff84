"""`make demo`: run the seed-001 pipeline end to end and say where to look."""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def sh(*args: str) -> int:
    print("$ " + " ".join(args), flush=True)
    return subprocess.call(list(args))


def serve_and_compare(exe: str, ref: str) -> None:
    """Deploy the approved version, call it, and check it against in-process predictions."""
    import tempfile

    import numpy as np
    from sklearn.datasets import load_diabetes

    from stackyard.inference import ModelHandler
    from stackyard.registry import ModelRegistry
    from stackyard.serving import Predictor

    subprocess.run([exe, "endpoints", "delete", "diabetes"], capture_output=True,
                   check=False)  # none there yet is fine
    if sh(exe, "endpoints", "create", "diabetes", "--model", ref, "--capture-percent", "100"):
        sys.exit(1)
    rows = load_diabetes().data[:5]
    served = Predictor("diabetes").predict(rows)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = ModelRegistry().download(ref, tmp)
        local = np.asarray(ModelHandler(model_dir, "train.py", model_dir / "code")
                           .predict_array(rows))
    print("\nrow  endpoint      in-process")
    for i, (a, b) in enumerate(zip(served, local, strict=True)):
        print(f"{i:>3}  {a:12.4f}  {b:12.4f}")
    if not np.allclose(served, local, rtol=1e-9, atol=1e-9):
        sys.exit("endpoint answers differ from in-process predictions")
    print("endpoint answers match in-process predictions")
    sh(exe, "endpoints", "delete", "diabetes")


if __name__ == "__main__":
    home = os.environ.setdefault("STACKYARD_HOME", str(Path.cwd() / ".stackyard"))
    exe = str(BIN / "stackyard")
    code = sh(exe, "run", str(HERE / "pipeline.py"), "-q")
    if code != 0:
        sys.exit(code)
    sh(exe, "runs", "list", "--limit", "3")
    latest = json.loads(subprocess.run([exe, "models", "latest", "diabetes-ensemble", "--json"],
                                       check=True, capture_output=True, text=True).stdout)
    ref = latest["ref"]
    sh(exe, "models", "approve", ref, "--comment", "make demo: test RMSE under threshold")
    sh(exe, "models", "describe", ref)
    sh(exe, "models", "lineage", ref)
    serve_and_compare(exe, ref)
    print(f"\nState lives in {home}. Look around with:\n"
          "  .venv/bin/stackyard runs describe <RUN_ID>\n"
          "  .venv/bin/stackyard runs logs <RUN_ID> TuneEnsemble\n"
          "  .venv/bin/stackyard pipelines describe diabetes-ensemble\n"
          "  .venv/bin/stackyard tuning list\n"
          "  .venv/bin/stackyard models list diabetes-ensemble")
