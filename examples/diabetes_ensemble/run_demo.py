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
    print(f"\nState lives in {home}. Look around with:\n"
          "  .venv/bin/stackyard runs describe <RUN_ID>\n"
          "  .venv/bin/stackyard runs logs <RUN_ID> TuneEnsemble\n"
          "  .venv/bin/stackyard pipelines describe diabetes-ensemble\n"
          "  .venv/bin/stackyard tuning list\n"
          "  .venv/bin/stackyard models list diabetes-ensemble")
