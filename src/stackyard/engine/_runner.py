"""The scheduler: walks one run's DAG, durably.

One runner drives one run at a time (a file lock says which process). The loop in
``run()`` decides what starts, skips or finishes; each step's attempts run in a worker
thread (``_execute``). Every transition is committed to the store before it takes effect:
a step is Executing in the store before its job starts, an attempt is recorded before its
process is spawned, and a step is Succeeded only after its outputs are stored. So a runner
killed at any moment can be replaced by ``resume``, which adopts live jobs, finishes jobs
that ended meanwhile, and reruns only what never completed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from stackyard import _home, artifacts, runtime
from stackyard.engine._definition import PipelineDef
from stackyard.engine._execute import Attempt
from stackyard.engine._params import parse_duration
from stackyard.engine._paths import walk_gets
from stackyard.engine._resolve import Context, resolve
from stackyard.engine._retry import cache_key, next_retry_delay
from stackyard.engine.steps import step_type
from stackyard.engine.steps.function import load_result
from stackyard.errors import StepFailed
from stackyard.runtime import DriverLock
from stackyard.store import Store

Event = dict[str, Any]
DONE = ("Succeeded", "Failed", "Skipped", "Stopped")


def run_dir(run_id: str) -> Path:
    return _home.runs_root() / run_id


def _without_job_names(value: Any) -> Any:
    """Drop per-run job names (``...JobName``) so equal work has equal cache keys."""
    if isinstance(value, dict):
        return {k: _without_job_names(v) for k, v in value.items()
                if not k.endswith("JobName")}
    if isinstance(value, list):
        return [_without_job_names(v) for v in value]
    return value


def RunLock(run_id: str, wait: float = 0) -> DriverLock:
    """Exclusive right to drive a run (see ``runtime.DriverLock``)."""
    return DriverLock(run_dir(run_id), "this run",
                      "wait for it or stop it with `stackyard runs stop`", wait)


class Runner:
    def __init__(
        self,
        store: Store,
        run_id: str,
        pdef: PipelineDef,
        parameters: dict[str, Any],
        functions: dict[str, Callable] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.pdef = pdef
        self.parameters = parameters
        self.functions = functions or {}
        self.on_event = on_event or (lambda e: None)
        self.stopping = threading.Event()
        self.max_parallel = pdef.max_parallel or _home.cpu_count()
        run = store.get_run(run_id)
        assert run is not None
        # the @step source files as they were when the run started (see start_run)
        self.snapshots: dict[str, str] = json.loads(run["definition"]).get(
            "Metadata", {}).get("CodeSnapshots", {})
        self.execution = {
            "PipelineExecutionId": run_id, "PipelineExecutionArn": f"stackyard:execution/{run_id}",
            "PipelineName": pdef.name, "PipelineArn": f"stackyard:pipeline/{pdef.name}",
            "StartDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run["start_time"])),
        }
        self.status: dict[str, str] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, Any] = {}

    # ---- context for expressions ------------------------------------------------
    def _step_outputs(self, name: str) -> dict[str, Any]:
        out = self.outputs.get(name)
        if out is None:
            raise StepFailed(f"step {name!r} has not produced outputs", "ResolveError")
        if "ResultUri" in out:  # a pickled @step result: load once, after its hash check
            if name not in self._results:
                self._results[name] = load_result(out)
            return {**out, "Result": self._results[name]}
        return out

    def context(self) -> Context:
        return Context(self.parameters, self.execution, self._step_outputs, self.pdef.steps)

    def emit(self, **event: Any) -> None:
        self.on_event({"run_id": self.run_id, **event})

    # ---- one step -----------------------------------------------------------------
    def _set(self, name: str, status: str, **fields: Any) -> None:
        if status in DONE:
            fields.setdefault("end_time", time.time())
        self.store.set_step(self.run_id, name, status=status, **fields)
        self.status[name] = status
        self.emit(type="step", step=name, status=status,
                  **{k: v for k, v in fields.items() if k in ("failure_reason", "cache_hit")})

    def _cache_key(self, name: str, arguments: Any) -> str | None:
        """Step definition + resolved arguments + content hashes of inputs and code (what
        its ``StepType`` says they are); None when the step type is never cached.

        Job names are per run, so they are left out.
        """
        step = self.pdef.steps[name]
        kind = step_type(step.type)
        refs: dict[str, Any] = {}
        for get in walk_gets(step.arguments):
            if get.startswith("Parameters."):
                refs[get] = self.parameters[get[len("Parameters."):]]
            elif get.startswith("Execution."):
                refs[get] = self.execution.get(get[len("Execution."):], get)
        if not kind.cacheable:
            return None
        resolved = _without_job_names(kind.cache_arguments(step, arguments, self.outputs))
        content: dict[str, str] = {}
        for label, uri in kind.cache_inputs(step, resolved):
            try:
                content[label] = (runtime.code_hash(uri) if label == "code"
                                  else artifacts.content_hash(uri))
            except Exception as e:
                raise StepFailed(f"cannot fetch input {uri}: {e}", "InputError") from e
        return cache_key(step.raw, {"refs": refs, "resolved": resolved}, content)

    def _try_cache(self, name: str, arguments: Any) -> bool:
        step = self.pdef.steps[name]
        if not step.cache:
            return False
        key = self._cache_key(name, arguments)
        if key is None:
            return False
        expire = step.cache.get("ExpireAfter")
        newer = time.time() - parse_duration(expire) if expire else 0.0
        hit = self.store.find_cached(self.pdef.name, key, newer)
        if hit is None:
            self.store.set_step(self.run_id, name, cache_key=key)
            return False
        self.outputs[name] = hit["outputs"]
        self._set(name, "Succeeded", cache_hit=1, cache_key=key, outputs=hit["outputs"],
                  attempts=0, start_time=time.time(), cache_source=hit["run_id"])
        return True

    def _execute(self, name: str) -> None:
        """All attempts of one step (worker thread); the step row says how it ended."""
        try:
            self._attempts(name)
        except Exception as e:  # noqa: BLE001 - a bug of ours must fail the step, not the run
            import traceback

            self._set(name, "Failed", failure_reason=f"internal error: {e!r}\n"
                      + "".join(traceback.format_exception(e)[-4:]), error_type="InternalError")

    def _attempts(self, name: str) -> None:
        step = self.pdef.steps[name]
        kind = step_type(step.type)
        attempts = self.store.get_attempts(self.run_id, name)
        try:
            resolved = resolve(step.arguments, self.context())
            if kind.records_arguments:  # what the step really read: lineage's evidence
                self.store.set_step(self.run_id, name, arguments=resolved)
            if not attempts and self._try_cache(name, resolved):
                return
        except StepFailed as e:
            self._set(name, "Failed", failure_reason=e.reason, error_type=e.error_type)
            return
        first_start = attempts[0]["start_time"] if attempts else time.time()
        while True:
            last = attempts[-1] if attempts else None
            adopt = last if last is not None and last["status"] == "Executing" else None
            n = last["n"] if adopt is not None else len(attempts) + 1
            job_dir = run_dir(self.run_id) / "jobs" / name / f"attempt-{n}"
            if adopt is None or not kind.adoptable:
                adopt = None
                self.store.start_attempt(self.run_id, name, n, str(job_dir))
            attempt = Attempt(self.store, self.run_id, step, n, job_dir, adopt,
                              lambda line: self.emit(type="log", step=name, line=line),
                              self.functions, self.stopping, self.context, self.snapshots)
            try:
                outputs = kind.execute(attempt, resolved)
            except StepFailed as e:
                self.store.finish_attempt(self.run_id, name, n, "Failed", e.error_type, e.reason)
                if self.stopping.is_set() or e.error_type == "Stopped":
                    self._set(name, "Stopped", failure_reason="stopped by request")
                    return
                kinds = getattr(e, "error_types", None) or [e.error_type]
                delay = next_retry_delay(step.retry_policies, kinds, n - 1, first_start,
                                         time.time())
                if delay is None:
                    self._set(name, "Failed", failure_reason=e.reason, error_type=e.error_type)
                    return
                self.emit(type="retry", step=name, attempt=n, delay=delay,
                          error_type=e.error_type)
                if self.stopping.wait(delay):
                    self._set(name, "Stopped", failure_reason="stopped by request")
                    return
                attempts = self.store.get_attempts(self.run_id, name)
                continue
            except Exception as e:
                self.store.finish_attempt(self.run_id, name, n, "Failed", "InternalError", repr(e))
                raise
            self.store.finish_attempt(self.run_id, name, n, "Succeeded")
            self.outputs[name] = outputs
            self._set(name, "Succeeded", outputs=outputs)
            return

    # ---- scheduling ---------------------------------------------------------------
    # Readiness is event-driven: each waiting step counts its dependencies that have not
    # succeeded; a transition updates only the steps that use the step that changed, and a
    # step whose count reaches zero joins the ready queue. A scheduling pass therefore costs
    # the same whether the pipeline has ten steps or ten thousand.
    def _branch_state(self, name: str) -> str:
        """'go', 'wait' or 'skip' for a step inside condition branches."""
        branches = self.pdef.branch_of.get(name)
        if not branches:
            return "go"
        decided = [(c, when) for c, when in branches if self.status.get(c) == "Succeeded"]
        if any(self.outputs[c]["Outcome"] == when for c, when in decided):
            return "go"
        return "skip" if len(decided) == len(branches) else "wait"

    def _init_readiness(self) -> None:
        """Count unfinished dependencies once, from the state loaded from the store."""
        self.users: dict[str, list[str]] = {n: [] for n in self.pdef.steps}
        for name, step in self.pdef.steps.items():
            for d in step.deps:
                self.users[d].append(name)
        self.waiting: dict[str, int] = {}
        self.ready: deque[str] = deque()
        for name, step in self.pdef.steps.items():
            if name not in self.status and name not in self.pdef.handlers:
                self.waiting[name] = sum(self.status.get(d) != "Succeeded" for d in step.deps)
        for name in list(self.waiting):
            if name in self.status:      # skipped meanwhile by an earlier one's cascade
                continue
            deps = self.pdef.steps[name].deps
            if any(self.status.get(d) == "Skipped" for d in deps) or (
                    self._branch_state(name) == "skip"):
                self._skip(name)
            elif self.waiting[name] == 0:
                self.ready.append(name)

    def _skip(self, name: str) -> None:
        """Mark a step Skipped, and every waiting step that depends on it."""
        todo = [name]
        while todo:
            n = todo.pop()
            if n in self.status:
                continue
            self._set(n, "Skipped")
            todo.extend(u for u in self.users[n] if u not in self.status)

    def _succeeded(self, name: str) -> None:
        """``name`` succeeded: its users are one dependency closer to running."""
        for u in self.users[name]:
            if u in self.status or u in self.pdef.handlers:
                continue
            self.waiting[u] -= 1
            state = self._branch_state(u)
            if state == "skip":
                self._skip(u)
            elif state == "go" and self.waiting[u] == 0:
                self.ready.append(u)

    def _load_state(self) -> list[str]:
        """Rebuild in-memory state from the store; return steps a dead runner left running."""
        interrupted = []
        for row in self.store.get_steps(self.run_id):
            if row["status"] == "Executing":
                interrupted.append(row["name"])
                self.status[row["name"]] = "Executing"
            else:
                self.status[row["name"]] = row["status"]
                self.outputs[row["name"]] = row["outputs"]
        return interrupted

    def run(self, wait: float = 0, unless_ended: bool = False) -> str:
        """Drive the run to its end, holding its lock (waiting up to ``wait`` s for it).
        ``unless_ended``: a run that ended before the lock was ours is left as it is (a
        detached continuation must not drive a run twice)."""
        with RunLock(self.run_id, wait):
            run = self.store.get_run(self.run_id)
            if unless_ended and run is not None and run["status"] != "Executing":
                return str(run["status"])
            return self._loop()

    def _loop(self) -> str:
        pool = ThreadPoolExecutor(max_workers=self.max_parallel + len(self.pdef.handlers),
                                  thread_name_prefix=f"run-{self.run_id}")
        running: dict[Future, str] = {}
        for name in self._load_state():  # adopt or rerun what a dead runner left
            running[pool.submit(self._execute, name)] = name
        failed = [n for n, s in self.status.items() if s == "Failed"
                  and n not in self.pdef.handlers]
        handled = {h for h in self.pdef.handlers if h in self.status}  # ran or is running
        try:
            self._schedule(pool, running, failed, handled)
        except KeyboardInterrupt:
            # Ctrl-C: stop the run (its jobs' process groups end), do not wait for them
            # to finish on their own; `runs resume` can run the stopped steps again.
            self._stop_jobs()
            wait(list(running), timeout=15)
            pool.shutdown(wait=False, cancel_futures=True)
            return self._finish(failed)
        finally:
            pool.shutdown(wait=True)
        return self._finish(failed)

    def _schedule(self, pool: ThreadPoolExecutor, running: dict[Future, str],
                  failed: list[str], handled: set[str]) -> None:
        """Start what is ready, collect what finished, then run failure handlers."""
        self._init_readiness()
        last_stop_check = 0.0
        while True:
            now = time.monotonic()
            if now - last_stop_check > 0.25:
                last_stop_check = now
                # while stopping, keep signalling: a job may have started since
                if self.stopping.is_set() or self.store.stop_requested(self.run_id):
                    self._stop_jobs()
            if not failed and not self.stopping.is_set():
                while self.ready and len(running) < self.max_parallel:
                    name = self.ready.popleft()
                    self._set(name, "Executing", start_time=time.time())
                    running[pool.submit(self._execute, name)] = name
            if not running:
                todo = [self.pdef.steps[f].on_failure for f in failed
                        if self.pdef.steps[f].on_failure
                        and self.pdef.steps[f].on_failure not in handled]
                if todo and not self.stopping.is_set():
                    for h in dict.fromkeys(todo):
                        handled.add(h)
                        self._set(h, "Executing", start_time=time.time())
                        running[pool.submit(self._execute, h)] = h
                    continue
                break
            done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
            for fut in done:
                name = running.pop(fut)
                fut.result()
                status = self.status.get(name)
                if status == "Succeeded":
                    self._succeeded(name)
                elif status == "Failed" and name not in self.pdef.handlers:
                    failed.append(name)

    def _stop_jobs(self) -> None:
        self.stopping.set()
        for a in self.store.get_attempts(self.run_id):
            if a["status"] == "Executing":  # a job on Ray has no local pid: its folder
                runtime.stop(a["pid"], a["pid_start"],  # names it
                             Path(a["job_dir"]) if a.get("job_dir") else None)

    def _finish(self, failed: list[str]) -> str:
        if self.stopping.is_set():
            status, reason = "Stopped", "stopped by request"
        elif failed:
            first = self.store.get_steps(self.run_id)
            rows = {r["name"]: r for r in first}
            step = self.pdef.steps[failed[0]]
            status = "Failed"
            reason = step_type(step.type).run_failure_reason(
                step, rows.get(step.name, {}).get("failure_reason"))
        else:
            status, reason = "Succeeded", None
        self.store.finish_run(self.run_id, status, reason)
        self.emit(type="run", status=status, failure_reason=reason)
        return status
