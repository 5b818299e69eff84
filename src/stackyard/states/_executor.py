"""Runs one execution of a state machine, durably.

An execution is a set of threads of control (the root, one per ``Parallel`` branch, one
per ``Map`` iteration), each a row in the store that says which state it is in and with
what input. Every transition is one transaction: the state's exit event, the next state's
entered event and the thread's new position commit together, before the next state does
anything. A task attempt is recorded (``TaskScheduled``/``TaskStarted`` and the thread's
``phase``) before its work starts, and that work is idempotent per attempt: a Lambda
invocation or a SageMaker job is a runtime job in a folder named by the attempt (a
resumed driver adopts it or reads how it ended), a token is created once per attempt. A
``Wait`` or a retry's pause records when it ends, so a resumed driver waits only the rest.
So a driver killed at any moment is replaced by ``resume``, which carries on from the
thread rows and never reruns a state whose exit was written.

The pure rules (paths, Choice, Retry/Catch matching, Wait times, validation) live in the
sibling modules; this module only sequences them and writes down what happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackyard import _home
from stackyard.errors import UsageError
from stackyard.runtime import DriverLock
from stackyard.states import _errors as E
from stackyard.states._choice import next_state
from stackyard.states._errors import StatesError
from stackyard.states._paths import check_size as check_output
from stackyard.states._paths import (
    effective_input,
    fail_error_cause,
    items,
    select,
    state_output,
)
from stackyard.states._retry import catcher_for, matching_retrier, retry_delay
from stackyard.states._wait import wait_until
from stackyard.store import Store, open_store

MAX_PAYLOAD = 256 * 1024          # AWS's limit on any input or output, in bytes (UTF-8)
ACCOUNT = "000000000000"
REGION = "local"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/stackyard"
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def execution_arn(machine: str, name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{name}"


def iso(ts: float) -> str:
    """AWS's timestamp text: UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def check_size(value: Any, what: str) -> str:
    """``value`` as JSON text; ``States.DataLimitExceeded`` past 256 KiB."""
    text = dump(value)
    size = len(text.encode())
    if size > MAX_PAYLOAD:
        raise StatesError(E.DATA_LIMIT_EXCEEDED, f"The {what} with size {size} bytes exceeds "
                          f"the maximum size of {MAX_PAYLOAD} bytes.")
    return text


def execution_dir(arn: str) -> Path:
    """The execution's folder (lock, task jobs): named by a hash of its ARN."""
    return _home.home() / "executions" / hashlib.sha256(arn.encode()).hexdigest()[:20]


class Aborted(Exception):
    """The thread was cancelled: the execution is stopping, or a sibling branch failed."""


def ExecutionLock(arn: str) -> DriverLock:
    """Exclusive right to drive an execution (see ``runtime.DriverLock``). Taking it waits up
    to a second, so a reader probing whether a driver lives (which holds the lock for a
    moment) never turns a driver that is just starting away."""
    return DriverLock(execution_dir(arn), "this execution",
                      "wait for it or stop it with `stackyard states stop`", wait=1.0)


def drive_detached(arn: str, reopen: bool = False) -> None:
    """Drive an execution in a process of its own (``drive``; ``reopen``: also an aborted
    one, as ``resume`` does); its pid
    and start time go in ``driver.pid``, so the driver counts as alive while it starts up,
    before it holds the lock."""
    from stackyard import runtime

    d = execution_dir(arn)
    d.mkdir(parents=True, exist_ok=True)
    proc = runtime.start_detached([sys.executable, "-c", "import sys; from stackyard.states."
                                   "_executor import drive; sys.exit(drive(sys.argv[1], "
                                   "sys.argv[2] == 'reopen'))", arn,
                                   "reopen" if reopen else "keep"], d / "driver.log")
    tmp = d / f"driver.pid.{os.getpid()}"
    tmp.write_text(f"{proc.pid} {runtime.process_start_time(proc.pid) or ''}")
    tmp.replace(d / "driver.pid")


def drive(arn: str, reopen: bool = False) -> int:
    """A detached driver's body: drive the execution (reopening an aborted one only when
    asked, so a stop that came first stays); 0, or 2 when another process drives it."""
    try:
        Driver(arn).run(reopen=reopen)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


def driver_alive(arn: str) -> bool:
    """Whether a live process drives the execution: one holds its lock, or the detached
    driver started for it has not exited yet (it may not have taken the lock so far)."""
    from stackyard import runtime

    if ExecutionLock(arn).held_elsewhere():
        return True
    try:
        pid, _, started = (execution_dir(arn) / "driver.pid").read_text().partition(" ")
    except OSError:
        return False
    return runtime.alive(int(pid), started.strip() or None)


class Flow:
    """One thread of control as the driver sees it: its row and its ``States``."""

    def __init__(self, path: str, machine: dict[str, Any], row: dict[str, Any],
                 cancel: threading.Event, item: dict[str, Any] | None = None,
                 end_events: Callable[[bool], list[tuple[str, dict | None]]] | None = None
                 ) -> None:
        self.path = path
        self.machine = machine
        self.row = row
        self.cancel = cancel
        self.item = item                    # {"Index", "Value"} of a Map iteration
        self.end_events = end_events        # events a branch's end adds (Map iterations)


class Driver:
    """Drives one execution in this process until it ends or this process dies."""

    def __init__(self, arn: str, store: Store | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        from stackyard.states._tasks import Tasks

        self.store = store or open_store()
        row = self.store.get_execution(arn)
        if row is None:
            raise UsageError(f"no execution {arn!r}; see `stackyard states executions`")
        self.arn = arn
        self.row = row
        self.definition: dict[str, Any] = json.loads(row["definition"])
        self.input = json.loads(row["input"])
        self.stopping = threading.Event()
        self.end_status: tuple[str, str | None, str | None] | None = None
        self.on_event = on_event or (lambda e: None)
        self.tasks = Tasks(self)
        self.cpus = _home.cpu_count()

    # ---- the context object ----------------------------------------------------------
    def context(self, th: Flow, name: str) -> dict[str, Any]:
        retries = th.row.get("retries") or []
        ctx: dict[str, Any] = {
            "Execution": {"Id": self.arn, "Input": self.input, "Name": self.row["name"],
                          "RoleArn": ROLE, "StartTime": iso(self.row["start_time"]),
                          "RedriveCount": 0},
            "StateMachine": {"Id": machine_arn(self.row["machine"]),
                             "Name": self.row["machine"]},
            "State": {"EnteredTime": iso(th.row.get("phase_at") or time.time()),
                      "Name": name, "RetryCount": sum(retries)},
        }
        if th.item is not None:
            ctx["Map"] = {"Item": {"Index": th.item["Index"], "Value": th.item["Value"]}}
        return ctx

    # ---- writing down --------------------------------------------------------------
    def emit(self, path: str, kind: str, details: dict | None = None, **threads: Any) -> None:
        self.store.transition(self.arn, [(path, kind, details)], threads or None)

    def _done(self, th: Flow, fields: dict[str, Any], events: list[tuple[str, dict | None]]
              ) -> None:
        self.store.transition(self.arn, [(th.path, k, d) for k, d in events],
                              {th.path: fields})
        th.row.update(fields)

    # ---- the driver ----------------------------------------------------------------
    def run(self, reopen: bool = False) -> str:
        """Drive the execution to its end; returns its final status. ``reopen`` (resume):
        an aborted execution runs again from where its threads stand; that happens under
        the lock, so it never touches an execution another process drives."""
        if self.row["status"] in FINAL and not (reopen and self.row["status"] == "ABORTED"):
            return str(self.row["status"])
        with ExecutionLock(self.arn):
            if reopen:
                self.store.reopen_execution(self.arn)
                self.row = self.store.get_execution(self.arn) or self.row
            (execution_dir(self.arn) / ".driver").write_text(str(os.getpid()))
            watcher = threading.Thread(target=self._watch, daemon=True,
                                       name=f"watch-{self.row['name']}")
            watcher.start()
            try:
                root = Flow("", self.definition, self._row(""), self.stopping)
                try:
                    output = self.run_thread(root)
                    status, error, cause = "SUCCEEDED", None, None
                except StatesError as e:
                    status, error, cause, output = "FAILED", e.error, e.cause, None
                except Aborted:
                    status, error, cause = self.end_status or ("ABORTED", None, None)
                    output = None
            finally:
                self.stopping.set()
            return self._finish(status, output, error, cause)

    def _row(self, path: str) -> dict[str, Any]:
        row = self.store.get_thread(self.arn, path)
        assert row is not None, f"execution {self.arn} has no thread {path!r}"
        return row

    def _watch(self) -> None:
        """Stop requests (from any process) and the execution's own TimeoutSeconds."""
        timeout = self.definition.get("TimeoutSeconds")
        while not self.stopping.wait(0.2):
            if timeout is not None and time.time() > self.row["start_time"] + float(timeout):
                self.end_status = ("TIMED_OUT", E.TIMEOUT, "The execution timed out after "
                                   f"{timeout} seconds.")
                self.stopping.set()
            row = self.store.get_execution(self.arn)
            if row is not None and row["stop_requested"]:
                self.end_status = ("ABORTED", row["error"], row["cause"])
                self.stopping.set()

    def _finish(self, status: str, output: Any, error: str | None, cause: str | None) -> str:
        kind = {"SUCCEEDED": "ExecutionSucceeded", "FAILED": "ExecutionFailed",
                "TIMED_OUT": "ExecutionTimedOut", "ABORTED": "ExecutionAborted"}[status]
        if status == "SUCCEEDED":
            text = dump(output)
            details: dict[str, Any] = {"output": text, "outputDetails": {"truncated": False}}
        else:
            text = None
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
        fields: dict[str, Any] = {"status": status, "stop_time": time.time(), "output": text,
                                  "error": error, "cause": cause}
        self.store.transition(self.arn, [("", kind, details)],
                              {"": {"status": "ABORTED"}} if status == "ABORTED" else None,
                              fields)
        self.on_event({"type": kind, "status": status, "error": error, "cause": cause})
        return status

    # ---- one thread ----------------------------------------------------------------
    def run_thread(self, th: Flow) -> Any:
        """Run a thread from where its row stands to its end; its output, or raises the
        ``StatesError`` it failed with (or ``Aborted``)."""
        if th.row["status"] == "SUCCEEDED":
            return th.row["output"]
        if th.row["status"] == "FAILED":
            raise StatesError(th.row["error"], th.row["cause"] or "")
        states = th.machine["States"]
        if not th.row["entered"]:
            start = [("MapIterationStarted", {"name": th.item["State"], "index": th.item["Index"]})
                     ] if th.item is not None else []
            self._enter(th, th.row["state"], th.row["input"], before=start)
        while True:
            if th.cancel.is_set():
                raise Aborted
            name = th.row["state"]
            state = states[name]
            data = th.row["input"]
            try:
                output, nxt, events = self.run_state(th, name, state, data)
            except StatesError as e:
                e = e.located(name, th.row["entered"])
                if th.cancel.is_set() and e.error != E.DATA_LIMIT_EXCEEDED:
                    raise Aborted from None
                caught = self._catch(th, name, state, data, e)
                if caught is None:
                    self._fail_thread(th, e)
                    raise e from None
                output, nxt, events = caught
            try:
                check_output(output, name)
            except StatesError as e:
                self._fail_thread(th, e)
                raise e from None
            text = dump(output)
            exit_events: list[tuple[str, dict | None]] = [
                *events, (f"{state['Type']}StateExited",
                          {"name": name, "output": text, "outputDetails": {"truncated": False}})]
            if nxt is None:
                end = th.end_events(True) if th.end_events else []
                self._done(th, {"status": "SUCCEEDED", "output": output, "phase": None},
                           exit_events + end)
                return output
            self._enter(th, nxt, output, before=exit_events)

    def _enter(self, th: Flow, name: str, data: Any, *,
               before: list[tuple[str, dict | None]] = ()) -> None:  # type: ignore[assignment]
        """Move the thread into state ``name`` with input ``data`` (one transaction, with
        the events ``before`` it: the previous state's exit)."""
        kind = th.machine["States"][name]["Type"]
        text = dump(data)
        fields = {"state": name, "input": data, "entered": True, "retries": None,
                  "phase": None, "phase_at": time.time(), "wake_at": None}
        events = [*before, (f"{kind}StateEntered", {"name": name, "input": text,
                                                     "inputDetails": {"truncated": False}})]
        ids = self.store.transition(self.arn, [(th.path, k, d) for k, d in events],
                                    {th.path: fields})
        th.row.update(fields, entered=ids[-1])
        self.on_event({"type": f"{kind}StateEntered", "state": name, "path": th.path})

    def _fail_thread(self, th: Flow, e: StatesError) -> None:
        end = th.end_events(False) if th.end_events else []
        self._done(th, {"status": "FAILED", "error": e.error, "cause": e.cause}, end)

    def _catch(self, th: Flow, name: str, state: dict[str, Any], data: Any,
               e: StatesError) -> tuple[Any, str, list] | None:
        if e.error in E.UNCATCHABLE or state["Type"] == "Fail":
            return None
        catcher = catcher_for(state, e.error)
        if catcher is None:
            return None
        ctx = self.context(th, name)
        try:
            output = state_output({"ResultPath": catcher.get("ResultPath", "$")}, data,
                                  e.as_output(), ctx)
        except StatesError:
            raise e from None
        return output, catcher["Next"], []

    # ---- one state -----------------------------------------------------------------
    def run_state(self, th: Flow, name: str, state: dict[str, Any], data: Any
                  ) -> tuple[Any, str | None, list[tuple[str, dict | None]]]:
        """Run state ``name`` on ``data``: (output, next state or None at the end, events
        to write with its exit)."""
        kind = state["Type"]
        ctx = self.context(th, name)
        nxt = None if state.get("End") else state.get("Next")
        if kind == "Pass":
            result = state["Result"] if "Result" in state else effective_input(state, data,
                                                                               ctx)
            return state_output(state, data, result, ctx), nxt, []
        if kind == "Succeed":
            return _output_path(state, effective_input(state, data, ctx), ctx), None, []
        if kind == "Fail":
            raise StatesError(*fail_error_cause(state, data, ctx))
        if kind == "Choice":
            chosen = effective_input(state, data, ctx)
            return _output_path(state, chosen, ctx), next_state(state, chosen, ctx), []
        if kind == "Wait":
            return self._wait(th, name, state, data, ctx), nxt, []
        if kind == "Task":
            result, events = self._retrying(th, name, state, data, self._task)
            return state_output(state, data, result, ctx), nxt, events
        if kind == "Parallel":
            result, events = self._retrying(th, name, state, data, self._parallel)
            return state_output(state, data, result, ctx), nxt, events
        if kind == "Map":
            result, events = self._retrying(th, name, state, data, self._map)
            return state_output(state, data, result, ctx), nxt, events
        raise StatesError(E.RUNTIME, f"unknown state type {kind!r}")

    def _sleep_until(self, th: Flow, until: float) -> None:
        while True:
            left = until - time.time()
            if left <= 0:
                return
            if th.cancel.wait(min(left, 1.0)):
                raise Aborted

    def _wait(self, th: Flow, name: str, state: dict[str, Any], data: Any,
              ctx: dict[str, Any]) -> Any:
        chosen = effective_input(state, data, ctx)
        if th.row.get("wake_at") is None:
            until = wait_until(state, chosen, datetime.now(UTC)).timestamp()
            self.store.transition(self.arn, threads={th.path: {"wake_at": until}})
            th.row["wake_at"] = until
        self._sleep_until(th, th.row["wake_at"])
        return _output_path(state, chosen, ctx)

    def _retrying(self, th: Flow, name: str, state: dict[str, Any], data: Any,
                  attempt: Callable[..., tuple[Any, list]]) -> tuple[Any, list]:
        """Attempts of a Task, Parallel or Map state under its ``Retry`` rules; each
        attempt is keyed ``<entered event>.<attempt number>``."""
        retries: list[int] = th.row.get("retries") or [0] * len(state.get("Retry", []))
        while True:
            if th.row.get("phase") == "retry":
                self._sleep_until(th, th.row["wake_at"])
            key = f"{th.row['entered']}.{sum(retries)}"
            try:
                return attempt(th, name, state, data, key)
            except StatesError as e:
                if th.cancel.is_set() or e.error in E.UNCATCHABLE:
                    raise
                delay = retry_delay(state, e.error, retries)
                if delay is None:
                    raise
                retries[matching_retrier(state, e.error)] += 1  # type: ignore[index]
                fields = {"retries": list(retries), "phase": "retry",
                          "wake_at": time.time() + delay}
                self.store.transition(self.arn, threads={th.path: fields})
                th.row.update(fields)

    # ---- Task ----------------------------------------------------------------------
    def _task(self, th: Flow, name: str, state: dict[str, Any], data: Any, key: str
              ) -> tuple[Any, list]:
        return self.tasks.run(th, name, state, data, key)

    # ---- Parallel and Map ----------------------------------------------------------
    def _parallel(self, th: Flow, name: str, state: dict[str, Any], data: Any, key: str
                  ) -> tuple[Any, list]:
        ctx = self.context(th, name)
        branches = state["Branches"]
        paths = [f"{th.path}/{key}.{i}" for i in range(len(branches))]
        if th.row.get("phase") != f"fan:{key}":
            value = effective_input(state, data, ctx)
            check_size(value, f"input of state '{name}'")
            threads: dict[str, dict[str, Any]] = {th.path: {"phase": f"fan:{key}"}}
            for p, b in zip(paths, branches, strict=True):
                threads[p] = {"status": "RUNNING", "state": b["StartAt"], "input": value}
            self.store.transition(self.arn, [(th.path, "ParallelStateStarted", None)], threads)
            th.row["phase"] = f"fan:{key}"
        rows = self.store.get_threads(self.arn, th.path)
        children = [Flow(p, b, rows[p], threading.Event())
                    for p, b in zip(paths, branches, strict=True)]
        try:
            results, _ = self._fan_out(th, children, len(children), None)
        except StatesError:
            self.emit(th.path, "ParallelStateFailed")
            raise
        return results, [("ParallelStateSucceeded", None)]

    def _map(self, th: Flow, name: str, state: dict[str, Any], data: Any, key: str
             ) -> tuple[Any, list]:
        from stackyard.states._distributed import DistributedMap, is_distributed

        if is_distributed(state):
            return DistributedMap(self, th, name, state, data, key).run()
        ctx = self.context(th, name)
        processor = state.get("ItemProcessor") or state["Iterator"]
        if th.row.get("phase") != f"fan:{key}":
            value = effective_input(state, data, ctx)
            values = items(state, value)
            threads: dict[str, dict[str, Any]] = {th.path: {"phase": f"fan:{key}"}}
            for i, item in enumerate(values):
                ictx = {**ctx, "Map": {"Item": {"Index": i, "Value": item}}}
                threads[f"{th.path}/{key}.{i}"] = {
                    "status": "RUNNING", "state": processor["StartAt"],
                    "input": effective_input(state, data, ictx),
                    "output": {"Index": i, "Value": item, "State": name}}  # until it ends
            self.store.transition(self.arn, [(th.path, "MapStateStarted",
                                              {"length": len(values)})], threads)
            th.row["phase"] = f"fan:{key}"
        rows = self.store.get_threads(self.arn, th.path)
        n = sum(1 for p in rows if p.rsplit("/", 1)[0] == th.path and
                p.rsplit("/", 1)[1].startswith(f"{key}."))
        children = []
        for i in range(n):
            p = f"{th.path}/{key}.{i}"
            row = rows[p]
            item = row["output"] if row["status"] == "RUNNING" else None
            children.append(Flow(p, processor, row, threading.Event(), item=item,
                                   end_events=_iteration_events(name, i)))
        limit = int(state.get("MaxConcurrency") or 0) or self.cpus
        tolerated = _tolerance(state, data, n)
        try:
            results, _ = self._fan_out(th, children, min(limit, self.cpus), tolerated)
        except StatesError:
            self.emit(th.path, "MapStateFailed")
            raise
        return results, [("MapStateSucceeded", None)]

    def _fan_out(self, th: Flow, children: list[Flow], limit: int,
                 tolerated: float | None) -> tuple[list[Any], int]:
        """Run child threads, at most ``limit`` at once; their outputs in order. The first
        failure cancels the others and is raised, unless ``tolerated`` (a Map's tolerated
        failure count) allows it (a failed item's output is its error)."""
        results: list[Any] = [None] * len(children)
        failed = 0
        first_error: StatesError | None = None
        for i, c in enumerate(children):   # what finished before a crash stays finished
            if c.row["status"] == "SUCCEEDED":
                results[i] = c.row["output"]
        todo = [(i, c) for i, c in enumerate(children) if c.row["status"] != "SUCCEEDED"]
        index = {id(c): i for i, c in enumerate(children)}
        if not todo:
            return results, 0
        pool = ThreadPoolExecutor(max_workers=max(1, min(limit, len(todo))),
                                  thread_name_prefix="sfn")
        running: dict[Future, Flow] = {}
        queue = list(todo)
        try:
            while queue or running:
                while queue and len(running) < max(1, limit) and first_error is None:
                    _, c = queue.pop(0)
                    if th.cancel.is_set():
                        break
                    running[pool.submit(self._child, c)] = c
                if not running:
                    break
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                if th.cancel.is_set():
                    for c in running.values():
                        c.cancel.set()
                for fut in done:
                    c = running.pop(fut)
                    i = index[id(c)]
                    err = fut.result()
                    if err is None:
                        results[i] = c.row["output"]
                    elif isinstance(err, StatesError):
                        failed += 1
                        results[i] = err.as_output()
                        if (tolerated is None or failed > tolerated) and first_error is None:
                            first_error = err
                            for other in running.values():
                                other.cancel.set()
                            queue.clear()
        finally:
            pool.shutdown(wait=True)
        if th.cancel.is_set():
            raise Aborted
        if first_error is not None:
            if tolerated is not None:
                raise StatesError(E.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                  "The specified tolerated failure threshold was exceeded")
            raise first_error
        return results, failed

    def _child(self, c: Flow) -> StatesError | Aborted | None:
        try:
            self.run_thread(c)
            return None
        except StatesError as e:
            return e
        except Aborted as e:
            return e


def _output_path(state: dict[str, Any], value: Any, ctx: dict[str, Any]) -> Any:
    """``OutputPath`` applied to ``value`` (states with no result: Choice, Wait, Succeed)."""
    return state_output({k: state[k] for k in ("OutputPath",) if k in state}, value, value,
                        ctx)


def _iteration_events(name: str, index: int
                      ) -> Callable[[bool], list[tuple[str, dict | None]]]:
    def events(ok: bool) -> list[tuple[str, dict | None]]:
        kind = "MapIterationSucceeded" if ok else "MapIterationFailed"
        return [(kind, {"name": name, "index": index})]
    return events


def _tolerance(state: dict[str, Any], data: Any, n: int) -> float | None:
    """How many failed iterations a Map tolerates (None: none, the first one fails it)."""
    count = state.get("ToleratedFailureCount")
    if "ToleratedFailureCountPath" in state:
        count = select(state["ToleratedFailureCountPath"], data)
    pct = state.get("ToleratedFailurePercentage")
    if "ToleratedFailurePercentagePath" in state:
        pct = select(state["ToleratedFailurePercentagePath"], data)
    limits = [float(count)] if count is not None else []
    limits += [float(pct) / 100.0 * n] if pct is not None else []
    return max(limits) if limits else None
