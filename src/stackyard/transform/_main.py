"""The process of a pipeline's transform job: ``python -m stackyard.transform._main
REQUEST STATE_DIR RESULT`` runs (or resumes) ``run_transform`` in ``STATE_DIR`` and writes
its properties to ``RESULT`` (temp name, renamed when whole). With the run on Ray (the
step puts the run's backend in this job's environment) its workers run on the cluster. A
failure's message goes to ``failure`` beside ``RESULT`` (``/opt/ml/output/failure``),
which the runtime makes the step's failure reason. Started by ``transform._step`` through
the runtime, never imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stackyard import _home
from stackyard.errors import StepFailed, UsageError
from stackyard.runtime import use_backend
from stackyard.transform._job import run_transform


def main(request: str, state: str, result: str) -> int:
    out = Path(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if _home.backend_settings()["backend"]:  # the run's backend (its step's job env)
            use_backend()
        props = run_transform(json.loads(Path(request).read_text()), Path(state),
                              on_log=lambda line: print(line, flush=True))
    except (UsageError, StepFailed) as e:
        (out.parent / "failure").write_text(str(e))
        print(f"transform failed: {e}", file=sys.stderr)
        return 1
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(props))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
