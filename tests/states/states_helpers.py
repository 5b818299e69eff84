"""Shared bits of the state machine tests: Lambda function scripts and small definitions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

# handler(event): appends event["step"] to event["log"], sleeps event["sleep"], returns event
APPEND = """
import time
def handler(event, context):
    with open(event["log"], "a") as f:
        f.write(event["step"] + "\\n")
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("failing on purpose: " + event["step"])
    return event
"""

# handler(event): touches event["me"] in event["dir"], waits until event["other"] exists
RENDEZVOUS = """
import pathlib, time
def handler(event, context):
    d = pathlib.Path(event["dir"])
    (d / event["me"]).touch()
    end = time.monotonic() + 60
    while not (d / event["other"]).exists():
        if time.monotonic() > end:
            raise TimeoutError("the other branch never ran alongside this one")
        time.sleep(0.02)
    return event["me"]
"""

# handler(event): writes the task token to event["token_file"]
TOKEN = """
def handler(event, context):
    with open(event["token_file"] + ".tmp", "w") as f:
        f.write(event["token"])
    import os
    os.replace(event["token_file"] + ".tmp", event["token_file"])
    return {"written": True}
"""


def register(folder: Path, name: str, source: str, timeout: int = 120) -> None:
    """Register ``source`` as Lambda function ``name`` (script ``<name>.py`` in folder)."""
    from stackyard.lambdas import register_function

    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    script = folder / f"{module}.py"
    script.write_text(textwrap.dedent(source))
    register_function(name, script, f"{module}.handler", timeout=timeout)


def lambda_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def chain(*names: str, **extra: Any) -> dict[str, Any]:
    """Task states calling the ``append`` function in a row, each logging its name."""
    states = {}
    for i, n in enumerate(names):
        states[n] = {"Type": "Task", "Resource": lambda_arn("append"),
                     "Parameters": {"log.$": "$.log", "step": n, "sleep.$": "$.sleep"},
                     "ResultPath": None, **extra}
        states[n].update({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})
    return {"StartAt": names[0], "States": states}


def types(history: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in history]


def output(desc: dict[str, Any]) -> Any:
    return json.loads(desc["output"])
