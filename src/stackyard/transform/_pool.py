"""Worker processes seen from the parent: start them, hand them units, collect answers.

A worker is a plain ``python -m stackyard.transform._worker`` subprocess started with the
environment the model should see (the model's and the transformer's variables, thread
counts that split the CPUs between workers): nothing is pickled either way, and nothing
about the environment is written down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import IO, Any

from stackyard import _home


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

    def ask(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Send ``message``; its answer, or None when the worker is gone (``gone`` says
        why)."""
        self.send(message)
        return self.receive()

    def gone(self) -> str:
        return f"its worker exited (code {self.proc.wait()})"

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


def worker_env(model_env: dict[str, str], job_env: dict[str, str], workers: int,
               cpus: int | None = None) -> dict[str, str]:
    """The parent's environment plus the model's and the job's variables, with native
    thread pools sized so that workers x threads fits the CPUs this process may use
    (``cpus``: what a Ray host was given)."""
    threads = str(max(1, (cpus or _home.cpu_count()) // workers))
    return {**os.environ, **model_env, **job_env, "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


