"""What a schedule or rule starts: a pipeline file, a state machine, a monitoring check, or
a notification. Each target is checked when the schedule or rule is created (a missing
pipeline file or channel is refused then, not at 2 a.m.) and stored as plain JSON.

Pipelines and checks run in a detached launcher process (``_launch``) that first claims the
fire in the store, so a fire starts once however many processes try; a notification is only
recorded (``publish(..., deliver=False)`` with the fire as its dedupe key), so the loop does
it in-process and may safely repeat it after a crash.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from stackyard._checks import check_name, parse_model_ref
from stackyard.errors import UsageError

PIPELINE, STATE_MACHINE, MONITOR, NOTIFY = "pipeline", "state-machine", "monitor", "notify"


def _params(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    params = {}
    for p in pairs:
        name, eq, value = p.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"-p {p!r}: write NAME=VALUE")
        params[name.strip()] = value
    return params


def pipeline_target(file: str | Path, params: list[str] | tuple[str, ...] = (),
                    parameter: str | None = None) -> dict[str, Any]:
    """Run ``file`` (which must load and define ``pipeline``) with ``params``; the event's
    value (a model reference, a run id, a file URI) goes to ``parameter`` if given.

    Loading runs the file's code now, as the user creating the schedule or rule: the same
    code runs at every fire, so subscribe only files you trust."""
    from stackyard.workflow import load_pipeline

    path = Path(file)
    pipeline = load_pipeline(path)
    names = {p.name for p in pipeline.parameters}
    given = _params(params)
    unknown = set(given) - names
    if unknown:
        raise UsageError(f"{file} has no parameter(s) {', '.join(sorted(unknown))} "
                         f"(parameters: {', '.join(sorted(names)) or 'none'})")
    if parameter is not None and parameter not in names:
        raise UsageError(f"{file} has no parameter {parameter!r} to receive the event "
                         f"(parameters: {', '.join(sorted(names)) or 'none'}); add "
                         f"ParameterString({parameter!r})")
    return {"kind": PIPELINE, "file": str(path.resolve()), "pipeline": pipeline.name,
            "params": list(params), "parameter": parameter, "cwd": os.getcwd()}


def state_machine_target(name: str) -> dict[str, Any]:
    """Start an execution of state machine ``name``, which must exist already."""
    from stackyard.states import StateMachine

    name = check_name(name, "state machine")
    StateMachine(name).describe()  # exists, or NotFoundError naming it
    return {"kind": STATE_MACHINE, "name": name}


def notify_target(channel: str) -> dict[str, Any]:
    from stackyard.notify import describe_channel

    return {"kind": NOTIFY, "channel": describe_channel(channel)["name"]}


def monitor_target(endpoint: str, baseline: str, since: str | None = None) -> dict[str, Any]:
    """Check ``endpoint``'s captured requests (within ``since``) against the data baseline
    registered with model version ``baseline``, as ``stackyard monitor run`` does."""
    from stackyard.monitor._api import parse_offset
    from stackyard.registry import ModelRegistry

    endpoint = check_name(endpoint, "endpoint")
    group, version = parse_model_ref(baseline)
    ModelRegistry().describe_package(group, version)  # exists, or NotFoundError
    if since is not None:
        parse_offset(since)
    return {"kind": MONITOR, "endpoint": endpoint, "baseline": f"{group}/{version}",
            "since": since}


def describe(target: dict[str, Any]) -> str:
    """One line saying what ``target`` starts."""
    kind = target["kind"]
    if kind == PIPELINE:
        extra = "".join(f" -p {p}" for p in target["params"])
        to = f" (event -> {target['parameter']})" if target.get("parameter") else ""
        return f"pipeline {target['file']}{extra}{to}"
    if kind == STATE_MACHINE:
        return f"state machine {target['name']}"
    if kind == NOTIFY:
        return f"notify {target['channel']}"
    if "endpoint" in target:
        return f"monitor endpoint {target['endpoint']} against {target['baseline']}"
    return f"monitoring schedule ({target.get('monitor', 'monitor')})"


def run(target: dict[str, Any], params: dict[str, Any], fire: dict[str, Any],
        on_start: Any) -> tuple[str, str | None, dict[str, Any]]:
    """Run ``target`` to its end in this process: (status, failure reason, detail).
    ``on_start(detail)`` is called as soon as there is something to show (a run id)."""
    kind = target["kind"]
    if kind == PIPELINE:
        return _pipeline(target, params, on_start)
    if kind == MONITOR:
        return _monitor(target)
    if kind == STATE_MACHINE:
        return _state_machine(target, fire, on_start)
    raise UsageError(f"unknown target kind {kind!r}")


def _state_machine(target: dict[str, Any], fire: dict[str, Any], on_start: Any
                   ) -> tuple[str, str | None, dict[str, Any]]:
    """One execution with the event (or ``{}``) as its input, driven here to its end."""
    from stackyard.states import describe_execution, start_execution

    started = start_execution(target["name"], fire.get("detail", {}).get("event") or {},
                              wait=False)
    arn = started["executionArn"]
    on_start({"execution": arn})
    d = describe_execution(arn)
    while d["status"] == "RUNNING":
        time.sleep(0.2)
        d = describe_execution(arn)
    if d["status"] == "SUCCEEDED":
        return "Succeeded", None, {"execution": arn}
    return "Failed", f"{d['status']}: {d.get('error', '')} {d.get('cause', '')}".strip(), {
        "execution": arn}


def _pipeline(target: dict[str, Any], params: dict[str, Any], on_start: Any
              ) -> tuple[str, str | None, dict[str, Any]]:
    from stackyard import engine
    from stackyard.workflow import load_pipeline

    pipeline = load_pipeline(Path(target["file"]))
    values = {**_params(target["params"]), **params}
    seen: dict[str, str] = {}

    def first_event(e: dict[str, Any]) -> None:
        if "run_id" not in seen:
            seen["run_id"] = e["run_id"]
            on_start({"run_id": e["run_id"], "pipeline": pipeline.name})

    handle = engine.start_run(pipeline.definition_dict(), values,
                              functions=pipeline.functions(), on_event=first_event)
    run_ = engine.describe_run(handle.run_id)
    return (run_["status"], run_["failure_reason"],
            {"run_id": handle.run_id, "pipeline": pipeline.name, "parameters": values})


def _monitor(target: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    from stackyard import monitor

    if "endpoint" in target:
        r = monitor.check_endpoint(target["endpoint"], target["baseline"], target["since"])
    else:
        r = monitor.run_scheduled(target)
    detail = {"monitoring_run": r["run_id"], "violations": r.get("violations")}
    if r["status"] == "Failed":
        return "Failed", r.get("failure_reason"), detail
    return "Succeeded", None, detail | {"status": r["status"]}

