"""`make demo`: run the seed-001 pipeline end to end and say where to look."""

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
    code = sh(str(BIN / "stackyard"), "run", str(HERE / "pipeline.py"), "-q")
    if code != 0:
        sys.exit(code)
    sh(str(BIN / "stackyard"), "runs", "list", "--limit", "3")
    print(f"\nState lives in {home}. Look around with:\n"
          "  .venv/bin/stackyard runs describe <RUN_ID>\n"
          "  .venv/bin/stackyard runs logs <RUN_ID> TuneEnsemble\n"
          "  .venv/bin/stackyard pipelines describe diabetes-ensemble\n"
          "  .venv/bin/stackyard tuning list")
