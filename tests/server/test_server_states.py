"""State machines and executions over HTTP: create and update, start (driven by a process
of its own), history, stop and resume, and answering a ``.waitForTaskToken`` task."""

from __future__ import annotations

import json
import textwrap

import pytest
from server_helpers import wait_until

CHOOSE = {"StartAt": "Pick", "States": {
    "Pick": {"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericGreaterThan": 3, "Next": "Big"}], "Default": "Small"},
    "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
    "Small": {"Type": "Fail", "Error": "TooSmall", "Cause": "n <= 3"}}}
SLOW = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 120, "End": True}}}
TOKEN_HANDLER = """
import os
def handler(event, context):
    with open(event["file"] + ".tmp", "w") as f:
        f.write(event["token"])
    os.replace(event["file"] + ".tmp", event["file"])
    return {}
"""


def _status(c, machine: str, name: str) -> str:
    return c.get(f"/api/state-machines/{machine}/executions/{name}").json()["status"]


def _ended(c, machine: str, name: str, timeout: float = 60) -> str:
    return wait_until(lambda: (s := _status(c, machine, name)) != "RUNNING" and s, timeout,
                      f"execution {name} to end")


@pytest.mark.slow
def test_machines_are_created_and_run_and_their_history_read(api):
    c = api.client()
    r = c.post("/api/state-machines", json={"name": "choose", "definition": CHOOSE})
    assert r.status_code == 201 and r.json()["version"] == 1, r.text
    assert c.post("/api/state-machines", json={"name": "choose", "definition": CHOOSE}
                  ).json()["version"] == 1           # the same definition: nothing new
    other = {**CHOOSE, "Comment": "v2"}
    r = c.post("/api/state-machines", json={"name": "choose", "definition": other})
    assert r.status_code == 400 and "already exists" in r.json()["error"]
    r = c.put("/api/state-machines/choose", json={"definition": json.dumps(other)})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    assert c.put("/api/state-machines/nosuch", json={"definition": other}).status_code == 404
    r = c.post("/api/state-machines", json={"name": "bad", "definition": {
        "StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}})
    assert r.status_code == 400 and "Nowhere" in r.json()["error"], r.text
    assert [m["name"] for m in c.get("/api/state-machines").json()] == ["choose"]
    assert json.loads(c.get("/api/state-machines/choose").json()["definition"])[
        "Comment"] == "v2"

    for name, n in (("big", 5), ("small", 1)):
        r = c.post("/api/state-machines/choose/executions", json={"input": {"n": n},
                                                                   "name": name})
        assert r.status_code == 202 and r.json()["executionArn"].endswith(
            ":execution:choose:" + name), r.text
    assert _ended(c, "choose", "big") == "SUCCEEDED"
    assert _ended(c, "choose", "small") == "FAILED"
    d = c.get("/api/state-machines/choose/executions/big").json()
    assert json.loads(d["output"]) == {"n": 5, "size": "big"}
    d = c.get("/api/state-machines/choose/executions/small").json()
    assert (d["error"], d["cause"]) == ("TooSmall", "n <= 3") and "output" not in d
    events = c.get("/api/state-machines/choose/executions/big/history").json()
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == \
        "ExecutionSucceeded"
    entered = [e["stateEnteredEventDetails"]["name"] for e in events
               if "stateEnteredEventDetails" in e]
    assert entered == ["Pick", "Big"]
    rows = c.get("/api/state-machines/choose/executions", params={"status": "FAILED"}).json()
    assert [r["name"] for r in rows] == ["small"]
    for url, code in (("/api/state-machines/choose/executions/nosuch", 404),
                      ("/api/state-machines/nosuch/executions", 404),
                      ("/api/state-machines/choose/executions?status=DONE", 400),
                      ("/api/state-machines/choose/executions?limit=%D9%A3", 400),
                      ("/api/state-machines/ch%20oose", 400)):
        r = c.get(url)
        assert r.status_code == code and set(r.json()) == {"error"}, (url, r.text)
    r = c.post("/api/state-machines/choose/executions", json={"input": {"n": 5},
                                                               "name": "big"})
    assert r.status_code == 400 and "ExecutionAlreadyExists" in r.json()["error"]
    r = c.post("/api/state-machines/choose/executions/big/resume", json={})
    assert r.status_code == 409 and "SUCCEEDED" in r.json()["error"]


@pytest.mark.slow
def test_an_execution_is_stopped_resumed_and_stopped_again(api):
    c = api.client()
    c.post("/api/state-machines", json={"name": "slow", "definition": SLOW})
    c.post("/api/state-machines/slow/executions", json={"name": "nap"})

    def waiting() -> bool:
        events = c.get("/api/state-machines/slow/executions/nap/history").json()
        return any(e["type"] == "WaitStateEntered" for e in events)
    wait_until(waiting, 60, "the execution to enter its Wait state")
    r = c.post("/api/state-machines/slow/executions/nap/stop",
               json={"error": "Enough", "cause": "from a test"})
    assert r.status_code == 200 and r.json()["status"] in ("ABORTED", "ABORTING"), r.text
    assert _ended(c, "slow", "nap") == "ABORTED"
    r = c.post("/api/state-machines/slow/executions/nap/resume", json={})
    assert r.status_code == 202, r.text
    wait_until(lambda: _status(c, "slow", "nap") == "RUNNING", 60, "the resume to reopen it")
    assert c.post("/api/state-machines/slow/executions/nap/stop", json={}).status_code == 200
    assert _ended(c, "slow", "nap") == "ABORTED"
    types = [e["type"] for e in
             c.get("/api/state-machines/slow/executions/nap/history").json()]
    assert types.count("ExecutionAborted") == 2, types


@pytest.mark.slow
def test_a_waiting_task_is_answered_over_http_once(api, sy):
    from stackyard.lambdas import register_function

    script = sy.write("fn dïr/tok.py", textwrap.dedent(TOKEN_HANDLER))
    register_function("tok", script, "tok.handler")
    c = api.client()
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "tok", "Payload": {
            "token.$": "$$.Task.Token", "file.$": "$.file"}}, "End": True}}}
    assert c.post("/api/state-machines", json={"name": "ask", "definition": definition}
                  ).status_code == 201
    files = {}
    for name in ("yes", "no"):
        files[name] = sy.work / f"token-{name}"
        c.post("/api/state-machines/ask/executions",
               json={"name": name, "input": {"file": str(files[name])}})
    tokens = {name: wait_until(lambda f=f: f.exists() and f.read_text(), 60, "a token")
              for name, f in files.items()}

    r = c.post("/api/task-tokens/heartbeat", json={"token": tokens["yes"]})
    assert r.status_code == 200 and r.json()["status"] == "WAITING"
    r = c.post("/api/task-tokens/success", json={"token": tokens["yes"], "output": "plain"})
    assert r.status_code == 200, r.text
    r = c.post("/api/task-tokens/success", json={"token": tokens["yes"], "output": 1})
    assert r.status_code == 409 and "no longer waiting" in r.json()["error"]
    r = c.post("/api/task-tokens/failure", json={"token": "nosuch-token", "error": "E"})
    assert r.status_code == 404
    r = c.post("/api/task-tokens/failure", json={"token": tokens["no"], "error": "Refused",
                                                 "cause": "by a person"})
    assert r.status_code == 200, r.text
    assert _ended(c, "ask", "yes") == "SUCCEEDED"
    # a JSON string given as the output stays a string (not parsed as JSON text again)
    assert json.loads(c.get("/api/state-machines/ask/executions/yes").json()["output"]) \
        == "plain"
    assert _ended(c, "ask", "no") == "FAILED"
    d = c.get("/api/state-machines/ask/executions/no").json()
    assert (d["error"], d["cause"]) == ("Refused", "by a person")
