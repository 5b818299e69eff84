"""A worker process: loads the model once, then transforms the units it is handed.

Started by ``_pool`` as ``python -m stackyard.transform._worker PARENT_PID`` (this module is
never imported by the package, so ``-m`` runs it fresh). It reads JSON lines from stdin
(first the model and the plan, then one unit at a time) and answers one JSON line per unit on
what was its stdout; fd 1 is pointed at the job log, so whatever model code prints lands
there instead of in the protocol. It dies with its parent (``PR_SET_PDEATHSIG``), so a
transform killed with ``kill -9`` leaves no worker writing behind the back of the process
that resumes it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _load(spec: dict[str, Any]) -> Any:
    """The model, unpacked from its stored, hash-checked artifact exactly as an endpoint
    loads it."""
    from stackyard.serving._fleet import _unpacked

    return _unpacked(spec["artifact"], spec["sha256"], spec.get("code_uri"),
                     spec.get("entry_point"), spec.get("content_types"),
                     spec.get("response_types"), spec.get("n_features"))


def main() -> None:
    _die_with_parent(int(sys.argv[1]))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # model code that prints writes to the job log, not into the protocol
    from stackyard.transform._records import Plan, UnitFailure, transform_unit

    first = json.loads(sys.stdin.readline())
    try:
        plan = Plan(first["plan"])
        handler = _load(first["model"])
    except Exception as e:  # noqa: BLE001 - any load failure fails the job, with its message
        answers.write(json.dumps({"fatal": f"{type(e).__name__}: {e}"}) + "\n")
        return
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        unit = json.loads(line)["unit"]
        try:
            reply: dict[str, Any] = {"ok": True, "records": transform_unit(handler, plan, unit)}
        except UnitFailure as e:
            reply = {"ok": False, "index": e.index, "error": e.message}
        except Exception as e:  # noqa: BLE001 - an unreadable file fails that file alone
            reply = {"ok": False, "index": None, "error": f"{type(e).__name__}: {e}"}
        answers.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
