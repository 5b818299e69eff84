"""A tiny in-memory driver that chains the pure functions over a whole definition.

It exists so the conformance suite can run complete definitions without the store and
without processes, and so the durable executor (``_executor.py``) has a reference to agree
with: for the same definition and input both must give the same status, output, error and
cause. It runs Pass, Choice, Wait (computing the end time, never sleeping: time is
virtual), Succeed, Fail, Parallel and inline Map, with Retry and Catch on Parallel and Map;
a Task is refused at validation (it needs the executor).

Event ids follow ``GetExecutionHistory`` (ExecutionStarted is #1, each state's Entered
event is the id in AWS's "entered at the event id #N" causes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stackyard.states._choice import next_state
from stackyard.states._errors import RUNTIME, TIMEOUT, StatesError
from stackyard.states._intrinsics import evaluate
from stackyard.states._paths import (
    PathNotFound,
    check_size,
    compact,
    effective_input,
    input_path,
    items,
    result_path,
    select,
    state_output,
)
from stackyard.states._retry import catcher_for, matching_retrier, retry_delay
from stackyard.states._validate import validate
from stackyard.states._wait import wait_until

MAX_EVENTS = 25_000  # AWS's history limit for one execution
ACCOUNT = "000000000000"
REGION = "local"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Run:
    def __init__(self, ctx: dict, start: datetime, timeout: int | None) -> None:
        self.ctx = ctx
        self.now = start
        self.deadline = start + timedelta(seconds=timeout) if timeout else None
        self.events = 1  # ExecutionStarted

    def event(self) -> int:
        self.events += 1
        if self.events > MAX_EVENTS:
            raise StatesError(RUNTIME, f"The execution reached the maximum number of history "
                                       f"events ({MAX_EVENTS}).")
        return self.events

    def machine(self, m: dict, data: Any) -> Any:
        name = m["StartAt"]
        while True:
            state = m["States"][name]
            entered = self.event()
            ctx = {**self.ctx, "State": {"Name": name, "EnteredTime": _iso(self.now),
                                         "RetryCount": 0}}
            try:
                nxt, data = self.state(name, state, data, ctx)
            except StatesError as e:
                err = e.located(name, entered)
                catcher = catcher_for(state, err.error) if state["Type"] in (
                    "Task", "Parallel", "Map") else None
                if catcher is None:
                    raise err from None
                self.event()  # <Type>StateExited after the caught failure
                data = result_path(catcher.get("ResultPath", "$"), data, err.as_output())
                nxt = catcher["Next"]
            check_size(data, name)
            if nxt is None:
                return data
            name = nxt

    def state(self, name: str, s: dict, raw: Any, ctx: dict) -> tuple[str | None, Any]:
        kind = s["Type"]
        nxt = s.get("Next")
        if kind == "Pass":
            eff = effective_input(s, raw, ctx)
            out = state_output(s, raw, s.get("Result", eff), ctx)
        elif kind == "Choice":
            eff = input_path(s, raw)
            nxt = next_state(s, eff, ctx)
            out = state_output(s, eff, eff, ctx)
        elif kind == "Wait":
            eff = input_path(s, raw)
            self.now = max(self.now, wait_until(s, eff, self.now))
            if self.deadline and self.now > self.deadline:
                raise _TimedOut
            out = state_output(s, eff, eff, ctx)
        elif kind == "Succeed":
            eff = input_path(s, raw)
            return None, state_output(s, eff, eff, ctx)
        elif kind == "Fail":
            raise StatesError(self._fail_field(s, "Error", raw, ctx),
                              self._fail_field(s, "Cause", raw, ctx))
        else:
            out = self._with_retry(s, raw, ctx)
        if kind != "Fail":
            self.event()  # <Type>StateExited
        return (None if s.get("End") else nxt), out

    def _fail_field(self, s: dict, key: str, raw: Any, ctx: dict) -> str:
        if key in s:
            return str(s[key])
        path = s.get(f"{key}Path")
        if path is None:
            return ""
        if path.startswith("States."):
            return str(evaluate(path, raw, ctx))
        try:
            value = select(path, ctx if path.startswith("$$") else raw)
        except PathNotFound:
            raise StatesError(RUNTIME, f"The JSONPath '{path}' specified for the field "
                                       f"'{key}Path' could not be found in the input "
                                       f"'{compact(raw)}'") from None
        return value if isinstance(value, str) else compact(value)

    def _with_retry(self, s: dict, raw: Any, ctx: dict) -> Any:
        counts: list[int] = []
        while True:
            try:
                return self._parallel(s, raw, ctx) if s["Type"] == "Parallel" \
                    else self._map(s, raw, ctx)
            except StatesError as e:
                delay = retry_delay(s, e.error, counts)
                if delay is None:
                    raise
                i = matching_retrier(s, e.error)
                assert i is not None
                counts.extend([0] * (i + 1 - len(counts)))
                counts[i] += 1
                self.now += timedelta(seconds=delay)
                ctx = {**ctx, "State": {**ctx["State"], "RetryCount": sum(counts)}}

    def _parallel(self, s: dict, raw: Any, ctx: dict) -> Any:
        eff = effective_input(s, raw, ctx)
        self.event()  # ParallelStateStarted
        results = [self.machine(branch, eff) for branch in s["Branches"]]
        self.event()  # ParallelStateSucceeded
        return state_output(s, raw, results, ctx)

    def _map(self, s: dict, raw: Any, ctx: dict) -> Any:
        map_input = effective_input(s, raw, ctx)
        values = items(s, map_input)
        self.event()  # MapStateStarted
        processor = s.get("ItemProcessor", s.get("Iterator"))
        results = []
        for i, value in enumerate(values):
            item_ctx = {**ctx, "Map": {"Item": {"Index": i, "Value": value}}}
            item_input = effective_input(s, raw, item_ctx)
            self.event()  # MapIterationStarted
            results.append(self.machine(processor, item_input))
            self.event()  # MapIterationSucceeded
        self.event()  # MapStateSucceeded
        return state_output(s, raw, results, ctx)


class _TimedOut(Exception):
    """The execution's TimeoutSeconds passed: not a state's error, so nothing catches it."""


def run_definition(definition: str | dict, input: Any = None, *, name: str = "local",
                   state_machine: str = "local", start: datetime | None = None,
                   ) -> tuple[str, Any, str | None, str | None]:
    """Run ``definition`` on ``input`` in memory: ``(status, output, error, cause)`` with
    status ``SUCCEEDED``, ``FAILED`` or ``TIMED_OUT`` (a Wait past ``TimeoutSeconds``).

    The definition is validated first (``DefinitionError`` for a bad one, as
    ``CreateStateMachine`` would refuse it). ``name`` and ``state_machine`` make the
    context object's ARNs; ``start`` is the virtual start time (now by default).
    """
    machine = validate(definition, supported_resource=lambda _resource: False)
    data = {} if input is None else input
    start = start or datetime.now(UTC)
    machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state_machine}"
    ctx = {
        "Execution": {"Id": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{state_machine}:"
                            f"{name}", "Input": data, "Name": name,
                      "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/stackyard",
                      "StartTime": _iso(start)},
        "StateMachine": {"Id": machine_arn, "Name": state_machine},
    }
    run = _Run(ctx, start, machine.get("TimeoutSeconds"))
    try:
        return "SUCCEEDED", run.machine(machine, data), None, None
    except _TimedOut:
        return "TIMED_OUT", None, TIMEOUT, None
    except StatesError as e:
        return "FAILED", None, e.error or None, e.cause or None
