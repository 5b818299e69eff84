"""Schedules (list, describe, create, pause, resume, delete, trigger) and event rules (list,
describe, create, delete) of ``stackyard.triggers``; the server's own loop fires them.

A target names exactly one thing to start: a pipeline file (its absolute path on the
server's machine), a state machine, a monitoring check (schedules) or a notification
channel (rules). A pipeline file is loaded to check it (it must define ``pipeline`` and
the parameters given) in a child process: loading runs the file's code, and the server
runs no user code in its own process, so a file that exits, hangs or changes the
interpreter cannot take the server with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from stackyard import triggers
from stackyard._checks import check_timezone, is_remote, parse_schedule_expression
from stackyard.errors import UsageError
from stackyard.server import _params as P

router = APIRouter(tags=["schedules and rules"])
LOAD_TIMEOUT = 120.0   # seconds a pipeline file may take to load


class Target(P.Body):
    pipeline: str | None = Field(default=None, description="Absolute path of a pipeline "
                                 "file on the server's machine")
    params: dict[str, str] = Field(default_factory=dict,
                                   description="Pipeline parameters, NAME: VALUE")
    parameter: str | None = Field(default=None, description="Rules: the pipeline parameter "
                                  "that receives the event's value")
    state_machine: str | None = None
    monitor: str | None = Field(default=None, description="Schedules: an endpoint whose "
                                "captured requests are checked against `baseline`")
    baseline: str | None = Field(default=None, description="GROUP/VERSION")
    since: str | None = Field(default=None, description="Only requests within this span "
                              "(1h, 1d)")
    notify: str | None = Field(default=None, description="Rules: a notification channel")


class Fire(P.Open):
    id: int
    due: str
    status: str
    reason: str | None
    detail: dict[str, Any] | None


class Schedule(P.Open):
    name: str
    state: str
    expression: str
    timezone: str
    next_fire: str | None
    target: dict[str, Any]
    does: str


class ScheduleDetail(Schedule):
    fires: list[Fire]


class NewSchedule(P.Body):
    name: str
    expression: str = Field(description="cron(0 2 * * ? *), rate(1 day), 0 2 * * *, or "
                                        "a rate in seconds: 10 seconds")
    target: Target
    timezone: str = "UTC"
    catchup: str = Field(default="last", description="none, last or all")
    overlap: str = Field(default="allow", description="skip, queue or allow")
    start_at: str | None = Field(default=None, description="ISO 8601")
    end_at: str | None = Field(default=None, description="ISO 8601")


class Rule(P.Open):
    name: str
    on: str
    filter: dict[str, Any] | None
    watch: str | None
    target: dict[str, Any]
    does: str


class RuleDetail(Rule):
    fires: list[Fire]


class NewRule(P.Body):
    name: str
    on: str = Field(description=", ".join(triggers.ON))
    target: Target
    filter: dict[str, Any] | None = Field(default=None,
                                          description="An EventBridge event pattern")
    watch: str | None = Field(default=None, description="file-arrived: an absolute folder "
                              "path on the server's machine, or an fsspec URI")


_LOAD = """
import json, sys
from stackyard.errors import StackyardError
from stackyard.triggers import pipeline_target
a = json.loads(sys.argv[1])
try:
    target = pipeline_target(a["file"], a["params"], a["parameter"])
except StackyardError as e:
    print(e, file=sys.stderr)
    sys.exit(2)
with open(a["out"], "w", encoding="utf-8") as f:
    json.dump(target, f)
"""


def _pipeline(file: str, params: dict[str, str], parameter: str | None) -> dict[str, Any]:
    """``triggers.pipeline_target`` run in a child process (see the module's docstring);
    the file's folder is its working folder, as at every fire.

    The answer comes back in a file, not on a pipe: a process the file forks would hold a
    pipe open (the load would wait out ``LOAD_TIMEOUT`` and fail a good file), and what the
    file prints, or an ``os._exit(0)``, can leave no answer at all. The child runs in a
    process group of its own, killed when it is done, forks included."""
    path = Path(file)
    if not path.is_absolute():
        raise UsageError(f"pipeline {file!r}: give the file's absolute path on the server's "
                         "machine")
    if not path.is_file():
        raise UsageError(f"pipeline {file!r}: no such file on the server's machine")
    with tempfile.TemporaryDirectory(prefix="stackyard-load-") as tmp:
        out, err = Path(tmp, "target.json"), Path(tmp, "stderr.txt")
        args = json.dumps({"file": file, "params": [f"{k}={v}" for k, v in params.items()],
                           "parameter": parameter, "out": str(out)})
        with err.open("wb") as errors:
            child = subprocess.Popen([sys.executable, "-c", _LOAD, args], cwd=path.parent,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=errors, start_new_session=True)
            try:
                code: int | None = child.wait(LOAD_TIMEOUT)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if code is None:
            raise UsageError(f"pipeline {file!r} took over {LOAD_TIMEOUT:.0f} s to load")
        if code == 0 and out.is_file():
            return json.loads(out.read_text(encoding="utf-8"))
        lines = err.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    last = lines[-1] if lines else ""
    if code == 2 and last:
        raise UsageError(last)
    raise UsageError(f"pipeline {file!r}: loading it ended the process (exit status "
                     f"{code}){': ' + last if last else ''}")


def _target(t: Target, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The one target ``t`` names, of the ``kinds`` allowed here, checked as the CLI does."""
    given = [k for k in kinds if getattr(t, k) is not None]
    extra = [k for k in ("pipeline", "state_machine", "monitor", "notify")
             if k not in kinds and getattr(t, k) is not None]
    if len(given) != 1 or extra:
        raise UsageError(f"target: give exactly one of {', '.join(kinds)}")
    kind = given[0]
    if kind != "pipeline" and (t.params or t.parameter):
        raise UsageError("target: params and parameter go with a pipeline")
    if kind != "monitor" and (t.baseline or t.since):
        raise UsageError("target: baseline and since go with monitor")
    if kind == "pipeline":
        return _pipeline(str(t.pipeline), t.params, t.parameter)
    if kind == "state_machine":
        return triggers.state_machine_target(str(t.state_machine))
    if kind == "notify":
        return triggers.notify_target(str(t.notify))
    if t.baseline is None:
        raise UsageError("target: monitor needs baseline (GROUP/VERSION)")
    return triggers.monitor_target(str(t.monitor), t.baseline, t.since)


# ---- schedules --------------------------------------------------------------------------
@router.get("/schedules", response_model=list[Schedule],
            summary="Every schedule with its next fire time")
def list_schedules() -> list[dict[str, Any]]:
    return triggers.list_schedules()


@router.get("/schedules/{name}", response_model=ScheduleDetail,
            summary="A schedule and its latest fires, newest first")
def describe_schedule(name: str) -> dict[str, Any]:
    return triggers.describe_schedule(P.name("schedule", name))


@router.post("/schedules", response_model=ScheduleDetail, status_code=201,
             summary="Create a schedule (the server's loop fires it)")
def create_schedule(body: NewSchedule) -> dict[str, Any]:
    """An invalid expression, time zone or target is a 400 naming it; a taken name too."""
    name = P.name("schedule", body.name)
    parse_schedule_expression(body.expression, "expression")   # the cheap checks first:
    check_timezone(body.timezone, "timezone")                   # loading a pipeline is not
    if body.target.parameter is not None:
        raise UsageError("target: parameter goes with a rule (a schedule has no event)")
    target = _target(body.target, ("pipeline", "state_machine", "monitor"))
    return triggers.create_schedule(name, target=target, expression=body.expression,
                                    timezone=body.timezone, catchup=body.catchup,
                                    overlap=body.overlap, start_at=body.start_at,
                                    end_at=body.end_at)


@router.post("/schedules/{name}/pause", response_model=ScheduleDetail,
             summary="Stop firing until resumed")
def pause_schedule(name: str) -> dict[str, Any]:
    return triggers.pause_schedule(P.name("schedule", name))


@router.post("/schedules/{name}/resume", response_model=ScheduleDetail,
             summary="Fire again from now on (paused times are not caught up)")
def resume_schedule(name: str) -> dict[str, Any]:
    return triggers.resume_schedule(P.name("schedule", name))


@router.post("/schedules/{name}/trigger", response_model=Fire, status_code=202,
             summary="Fire the target now, whatever the schedule's state")
def trigger_schedule(name: str) -> dict[str, Any]:
    """A pipeline or check starts in a process of its own; the answer is the fire record
    (``detail.run_id`` once it has started)."""
    return triggers.trigger_schedule(P.name("schedule", name))


@router.delete("/schedules/{name}", summary="Delete a schedule (its fire records stay)")
def delete_schedule(name: str) -> dict[str, Any]:
    triggers.delete_schedule(P.name("schedule", name))
    return {"name": name, "deleted": True}


# ---- rules ------------------------------------------------------------------------------
@router.get("/rules", response_model=list[Rule], summary="Every event rule")
def list_rules() -> list[dict[str, Any]]:
    return triggers.list_rules()


@router.get("/rules/{name}", response_model=RuleDetail,
            summary="A rule and its latest fires, newest first")
def describe_rule(name: str) -> dict[str, Any]:
    return triggers.describe_rule(P.name("rule", name))


@router.post("/rules", response_model=RuleDetail, status_code=201,
             summary="Create an event rule (the server's loop reacts to it)")
def create_rule(body: NewRule) -> dict[str, Any]:
    name = P.name("rule", body.name)
    w = body.watch
    if w is not None and not is_remote(w) and not w.startswith("file:") \
            and not Path(w).is_absolute():   # relative to the server's folder: a surprise
        raise UsageError(f"watch {body.watch!r}: give an absolute folder path on the "
                         "server's machine, or an fsspec URI")
    if body.on not in triggers.ON:   # before the target: loading a pipeline costs a process
        raise UsageError(f"on {body.on!r}: write one of {', '.join(triggers.ON)}")
    target = _target(body.target, ("pipeline", "state_machine", "notify"))
    return triggers.create_rule(name, on=body.on, target=target, pattern=body.filter,
                                watch=body.watch)


@router.delete("/rules/{name}", summary="Delete a rule (its fire records stay)")
def delete_rule(name: str) -> dict[str, Any]:
    triggers.delete_rule(P.name("rule", name))
    return {"name": name, "deleted": True}
