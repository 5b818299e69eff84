"""Waking a run whose runner is gone when one of its callbacks is answered.

A run is driven by whoever holds its run lock (``engine._runner.RunLock``; the kernel drops
it when the holder dies), so "is a runner alive" is "is the lock held". The answerer, after
its answer counted, takes the lock without waiting: if it cannot, a live runner (or another
waker) holds it and will read the answer from the store. If it can, nobody drives the run;
under the lock it starts one detached continuation (``python -m stackyard.callbacks._wake
RUN``, the way an approval starts an on-approve pipeline), records it as a
``callback.resumed`` event, and lets go. The lock makes that check-and-start atomic, and
the event is the claim: an answer that takes the lock while the recorded continuation is
still alive (started, not yet driving) starts nothing. The continuation waits for the lock
and drives the run on as the dead runner would have (``engine.continue_run``), or leaves it
if it ended meanwhile, so no run is ever driven twice.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from filelock import Timeout

from stackyard import engine, runtime
from stackyard.engine._runner import RunLock, run_dir
from stackyard.errors import UsageError
from stackyard.store import open_store

EVENT = "callback.resumed"
PATIENCE = 30.0   # seconds a continuation waits for the answerer that started it to let go


def _continuation_alive(store: Any, run_id: str) -> bool:
    """The last continuation started for ``run_id`` still runs (waiting or driving)."""
    for e in reversed(store.events(EVENT)):
        if e["payload"]["run_id"] == run_id:
            return runtime.alive(e["payload"]["pid"], e["payload"]["pid_start"])
    return False


def wake(run_id: str, token: str) -> int | None:
    """After an answer to ``token`` counted: start a detached continuation of ``run_id`` if
    nothing drives it; returns its pid (None when a runner or continuation is alive, or the
    run has ended)."""
    lock = RunLock(run_id).lock
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return None           # a live runner holds it: it reads the answer from the store
    try:
        store = open_store()
        run = store.get_run(run_id)
        if run is None or run["status"] != "Executing" or _continuation_alive(store, run_id):
            return None
        log = run_dir(run_id) / f"resume-{token}.log"
        proc = runtime.start_detached([sys.executable, "-m", "stackyard.callbacks._wake",
                                       run_id], log)
        store.add_event(EVENT, {"run_id": run_id, "token": token, "pid": proc.pid,
                                "pid_start": runtime.process_start_time(proc.pid),
                                "log": str(log)})
        print(f"run {run_id} had no live runner: resumed it (detached, pid {proc.pid}); "
              f"log: {log}", file=sys.stderr)
        return proc.pid
    finally:
        lock.release()


def main(run_id: str) -> int:
    """The detached continuation: drive the run on once the answerer has let go."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} continuing run {run_id}", flush=True)
    try:
        status = engine.continue_run(run_id, wait=PATIENCE)
    except UsageError as e:   # another process drives it (and reads the answer)
        print(f"not continued: {e}", flush=True)
        return 0
    print(f"run {run_id} ended: {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
