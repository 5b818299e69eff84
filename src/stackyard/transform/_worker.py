"""Worker processes: each loads the model once, then transforms the units it is handed.

A worker is a plain ``python -m stackyard.transform._worker`` subprocess started with the
environment the model should see (the model's and the transformer's variables, thread
counts that split the CPUs between workers): nothing is pickled either way, and nothing
about the environment is written down. The parent writes JSON lines to the worker's stdin
(first the model and the plan, then one unit at a time) and reads one JSON line per unit
back from its stdout; whatever model code prints goes to the job log instead. A worker dies
with its parent (``PR_SET_PDEATHSIG``), so a transform killed with ``kill -9`` leaves no
worker writing behind the back of the one that resumes it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from typing import IO, Any

from stackyard import _home

_PR_SET_PDEATHSIG = 1


# --- parent side ----------------------------------------------------------------------------
class Worker:
    """One worker process, driven by one thread of the parent."""

    def __init__(self, env: dict[str, str], log: IO[bytes]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stackyard.transform._worker", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, text=True,
            bufsize=1)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any] | None:
        """The next answer, or None when the worker is gone."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def close(self, kill: bool = False) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:  # the worker is already gone
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def worker_env(model_env: dict[str, str], job_env: dict[str, str], workers: int
               ) -> dict[str, str]:
    """The parent's environment plus the model's and the job's variables, with native
    thread pools sized so that workers x threads fits the CPUs this process may use."""
    threads = str(max(1, _home.cpu_count() // workers))
    return {**os.environ, **model_env, **job_env, "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


# --- worker side ----------------------------------------------------------------------------
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
