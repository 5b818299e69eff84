"""``stackyard states ...``: Step Functions state machines and their executions.

A command that runs or reports one execution exits 0 when it succeeded (or is still
running), 1 when it failed, timed out or was aborted, 2 for bad input.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import click

from stackyard.cli._args import json_option, limit_option
from stackyard.cli._remote import api, remote
from stackyard.cli._render import escape, out, print_json, table
from stackyard.errors import UsageError

_COLOURS = {"SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "yellow",
            "RUNNING": "cyan"}


@click.group()
def states() -> None:
    """Amazon States Language state machines, run locally and durably."""


def _read(text: str, what: str) -> str:
    """``@FILE`` (or a FILE for definitions) read as text; anything else as it is."""
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{what}: cannot read {text[1:]!r}: {e}") from None
    return text


def _json_value(text: str | None, what: str) -> Any:
    if text is None:
        return {}
    raw = _read(text, what)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:   # RecursionError: nested too deeply
        raise UsageError(f"{what} is not valid JSON ({e}); write JSON or @FILE") from None


def _definition(path: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--definition: cannot read {path!r}: {e}") from None


def _arn(ref: str) -> str:
    """An execution ARN, or ``MACHINE:NAME`` (short for it)."""
    from stackyard.states._executor import execution_arn

    if ref.startswith("arn:"):
        return ref
    machine, sep, name = ref.partition(":")
    if not sep or not machine or not name:
        raise UsageError(f"execution {ref!r}: give its ARN or MACHINE:NAME")
    return execution_arn(machine, name)


def _where(arn: str, *more: str) -> str:
    """The API path of an execution (``.../state-machines/MACHINE/executions/NAME``)."""
    machine, name = arn.split(":")[-2:]
    return api("state-machines", machine, "executions", name, *more)


def _code(status: str) -> int:
    return 0 if status in ("SUCCEEDED", "RUNNING") else 1


def _status(s: str) -> str:
    return f"[{_COLOURS.get(s, 'white')}]{escape(s)}[/]"


def _live(json_: bool):
    if json_:
        return None

    def on_event(e: dict[str, Any]) -> None:
        stamp = time.strftime("%H:%M:%S")
        if e["type"].endswith("StateEntered"):
            where = f" [dim]({escape(e['path'])})[/]" if e.get("path") else ""
            out.print(f"[dim]{stamp}[/] ▶ {escape(e['state'])}{where}")
        elif e["type"].startswith("Execution"):
            extra = f" {escape(e['error'])}: {escape(e['cause'] or '')}" if e.get("error") else ""
            out.print(f"[dim]{stamp}[/] execution {_status(e['status'])}{extra}")
    return on_event


def _report(arn: str, json_: bool, d: dict[str, Any] | None = None) -> int:
    """Print DescribeExecution ``d`` (read here when not given); the exit code."""
    if d is None:
        from stackyard.states import describe_execution

        d = describe_execution(arn)
    if json_:
        print_json(d)
    else:
        out.print(f"{escape(arn)} {_status(d['status'])}")
        if "output" in d:
            out.print(f"output: {escape(d['output'])}")
        if d.get("error") or d.get("cause"):
            out.print(f"error: {escape(d.get('error', ''))}\ncause: {escape(d.get('cause', ''))}")
        if d.get("driver") == "dead":
            out.print(f"[yellow]no live driver[/]: run `stackyard states resume "
                      f"{escape(arn)}` (or wait on it in Python, which resumes it)")
    return _code(d["status"])


def _save(name: str, definition: str, update: bool, json_: bool) -> None:
    from stackyard.states import create_state_machine

    r = create_state_machine(name, _definition(definition), update=update)
    print_json(r) if json_ else out.print(f"{escape(r['stateMachineArn'])} version "
                                          f"{r['version']}")


_definition_option = click.option("--definition", "definition", required=True,
                                  metavar="FILE", help="The ASL definition (JSON).")


@states.command("create")
@click.argument("name")
@_definition_option
@json_option
def create(name: str, definition: str, json_: bool) -> None:
    """Create state machine NAME (refused if it exists with another definition)."""
    _save(name, definition, False, json_)


@states.command("update")
@click.argument("name")
@_definition_option
@json_option
def update(name: str, definition: str, json_: bool) -> None:
    """Give state machine NAME a new definition (a new version)."""
    _save(name, definition, True, json_)


@states.command("list")
@json_option
def list_(json_: bool) -> None:
    """State machines."""
    if (server := remote()) is not None:
        rows = server.get(api("state-machines"))
    else:
        from stackyard.states import list_state_machines

        rows = list_state_machines()
    if json_:
        print_json(rows)
        return
    table(["name", "version", "executions", "created"],
          [[r["name"], r["version"], r["executions"], r["creationDate"]] for r in rows])


_input = click.option("--input", "input_", metavar="JSON|@FILE", help="Execution input.")


@states.command("start")
@click.argument("name")
@_input
@click.option("--name", "exec_name", metavar="EXEC", help="Execution name (unique).")
@click.option("--wait", is_flag=True, help="Run it here to its end (else in the background).")
@json_option
def start(name: str, input_: str | None, exec_name: str | None, wait: bool,
          json_: bool) -> int:
    """Start an execution of state machine NAME."""
    from stackyard.states import start_execution

    r = start_execution(name, _json_value(input_, "--input"), exec_name, wait=wait,
                        on_event=_live(json_) if wait else None)
    if wait:
        return _report(r["executionArn"], json_)
    print_json(r) if json_ else out.print(escape(r["executionArn"]))
    return 0


@states.command("run")
@click.argument("file")
@_input
@click.option("--machine", metavar="NAME", help="State machine name (default: FILE's stem).")
@click.option("--name", "exec_name", metavar="EXEC", help="Execution name (unique).")
@json_option
def run(file: str, input_: str | None, machine: str | None, exec_name: str | None,
        json_: bool) -> int:
    """Create or update a state machine from FILE, start it and wait for the end."""
    from stackyard.states import create_state_machine, start_execution

    name = machine or re.sub(r"[^A-Za-z0-9_-]", "-", Path(file).stem)
    value = _json_value(input_, "--input")
    create_state_machine(name, _definition(file))
    r = start_execution(name, value, exec_name, wait=True, on_event=_live(json_))
    return _report(r["executionArn"], json_)


@states.command("describe")
@click.argument("execution")
@json_option
def describe(execution: str, json_: bool) -> int:
    """Status, input, output, error and cause of EXECUTION (ARN or MACHINE:NAME)."""
    arn = _arn(execution)
    server = remote()
    return _report(arn, json_, server.get(_where(arn)) if server else None)


@states.command("history")
@click.argument("execution")
@json_option
def history(execution: str, json_: bool) -> None:
    """The events of EXECUTION, as GetExecutionHistory."""
    if (server := remote()) is not None:
        events = server.get(_where(_arn(execution), "history"))
    else:
        from stackyard.states import get_execution_history

        events = get_execution_history(_arn(execution))
    if json_:
        print_json({"events": events})
        return
    rows = []
    for e in events:
        details = next((v for k, v in e.items() if k.endswith("EventDetails")), {}) or {}
        info = details.get("name") or details.get("error") or details.get("resource") or ""
        rows.append([e["id"], e["previousEventId"], e["timestamp"], e["type"], info])
    table(["id", "prev", "time", "type", "detail"], rows)


@states.command("executions")
@click.argument("name")
@click.option("--status", type=click.Choice(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT",
                                             "ABORTED"]))
@limit_option
@json_option
def executions(name: str, status: str | None, limit: int, json_: bool) -> None:
    """Executions of state machine NAME, newest first."""
    if (server := remote()) is not None:
        rows = server.get(api("state-machines", name, "executions"), status=status,
                          limit=limit)
    else:
        from stackyard.states import list_executions

        rows = list_executions(name, status, limit)
    if json_:
        print_json(rows)
        return
    table(["name", "status", "started", "stopped"],
          [[r["name"], r["status"], r["startDate"], r.get("stopDate")] for r in rows])


@states.command("stop")
@click.argument("execution")
@click.option("--error", help="Error code recorded with the abort.")
@click.option("--cause", help="Cause recorded with the abort.")
@json_option
def stop(execution: str, error: str | None, cause: str | None, json_: bool) -> None:
    """Abort EXECUTION (its running jobs are stopped)."""
    from stackyard.states import stop_execution

    arn = _arn(execution)
    status = stop_execution(arn, error, cause)
    print_json({"executionArn": arn, "status": status}) if json_ else out.print(
        f"{escape(arn)} {_status(status)}")


@states.command("resume")
@click.argument("execution")
@json_option
def resume(execution: str, json_: bool) -> int:
    """Carry on EXECUTION after its driver died: finished states are not run again."""
    from stackyard.states import resume_execution

    arn = _arn(execution)
    resume_execution(arn, on_event=_live(json_))
    return _report(arn, json_)


@states.command("send-task-success")
@click.argument("token")
@click.option("--output", "output", required=True, metavar="JSON|@FILE",
              help="The task's result.")
def send_task_success(token: str, output: str) -> None:
    """Answer TOKEN: its task succeeds with OUTPUT."""
    from stackyard.states import send_task_success as send

    send(token, _json_value(output, "--output"))
    out.print("task answered: succeeded")


@states.command("send-task-failure")
@click.argument("token")
@click.option("--error", default="", help="Error name (Retry and Catch match on it).")
@click.option("--cause", default="", help="Cause text.")
def send_task_failure(token: str, error: str, cause: str) -> None:
    """Answer TOKEN: its task fails with ERROR and CAUSE."""
    from stackyard.states import send_task_failure as send

    send(token, error, cause)
    out.print("task answered: failed")


@states.command("send-task-heartbeat")
@click.argument("token")
def send_task_heartbeat(token: str) -> None:
    """Tell TOKEN's task it is still being worked on (restarts its HeartbeatSeconds)."""
    from stackyard.states import send_task_heartbeat as send

    send(token)
    out.print("heartbeat sent")
