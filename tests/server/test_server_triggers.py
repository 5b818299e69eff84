"""Schedules and event rules over HTTP: create (targets checked as the CLI checks them, a
pipeline file loaded in a child process), list, describe, pause, resume, trigger, delete."""

from __future__ import annotations

import pytest
from server_helpers import wait_until

from stackyard.states import create_state_machine

PIPELINE = """
from stackyard.workflow import ParameterString, Pipeline, step
day = ParameterString("Day", default_value="today")

@step(name="Echo")
def echo(d):
    return d

pipeline = Pipeline("echo", parameters=[day], steps=[echo(day)])
"""
GREET = {"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}}


def _errors(c, method: str, url: str, cases: list[tuple[dict, int, str]]) -> None:
    for body, code, words in cases:
        r = c.request(method, url, json=body)
        assert r.status_code == code and words in r.json()["error"], (body, r.text)


@pytest.mark.slow
def test_schedules_are_created_paused_resumed_triggered_and_deleted(api, sy):
    create_state_machine("greet", GREET)
    folder = sy.work / "my pipelines ü"
    good = sy.write("my pipelines ü/echo.py", PIPELINE)
    exits = sy.write("my pipelines ü/exits.py", "import os\nos._exit(3)\n")
    c = api.client()
    r = c.post("/api/schedules", json={"name": "nightly", "expression": "cron(0 2 * * ? *)",
                                       "timezone": "Europe/Berlin",
                                       "target": {"pipeline": str(good),
                                                  "params": {"Day": "monday"}}})
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["target"]["cwd"] == str(folder) and row["target"]["params"] == ["Day=monday"]
    assert row["next_fire"].endswith(("T02:00:00+01:00", "T02:00:00+02:00"))
    assert row["fires"] == []
    _errors(c, "POST", "/api/schedules", [
        ({"name": "n2", "expression": "61 * * * *", "target": {"state_machine": "greet"}},
         400, "Bad minute"),
        ({"name": "n2", "expression": "rate(1 day)", "timezone": "Mars/Base",
          "target": {"state_machine": "greet"}}, 400, "Mars/Base"),
        ({"name": "n2", "expression": "rate(1 day)", "target": {"pipeline": "echo.py"}},
         400, "absolute path"),
        ({"name": "n2", "expression": "rate(1 day)",
          "target": {"pipeline": str(good), "params": {"Nope": "1"}}}, 400, "Nope"),
        ({"name": "n2", "expression": "rate(1 day)", "target": {"pipeline": str(exits)}},
         400, "ended the process (exit status 3)"),
        ({"name": "n2", "expression": "rate(1 day)",
          "target": {"state_machine": "greet", "notify": "ops"}}, 400, "exactly one"),
        ({"name": "n2", "expression": "rate(1 day)", "target": {"state_machine": "nosuch"}},
         404, "nosuch"),
        ({"name": "nightly", "expression": "rate(1 day)", "target": {"state_machine": "greet"}},
         400, "exists"),
    ])
    assert c.get("/api/health").status_code == 200     # the exiting file did not end it

    r = c.post("/api/schedules", json={"name": "hourly", "expression": "rate(1 hour)",
                                       "target": {"state_machine": "greet"}})
    assert r.status_code == 201, r.text
    assert [s["name"] for s in c.get("/api/schedules").json()] == ["hourly", "nightly"]
    paused = c.post("/api/schedules/hourly/pause", json={}).json()
    assert paused["state"] == "PAUSED" and paused["next_fire"] is None
    assert c.post("/api/schedules/hourly/resume", json={}).json()["state"] == "ENABLED"
    r = c.post("/api/schedules/hourly/trigger", json={})
    assert r.status_code == 202, r.text
    fire = r.json()["id"]

    def fired() -> dict | None:
        rows = c.get("/api/schedules/hourly").json()["fires"]
        return next((f for f in rows if f["id"] == fire and f["status"] == "Succeeded"), None)
    done = wait_until(fired, 60, "the triggered fire to succeed")
    assert ":execution:greet:" in done["detail"]["execution"]
    assert c.request("DELETE", "/api/schedules/hourly", json={}).status_code == 200
    assert c.get("/api/schedules/hourly").status_code == 404
    assert c.post("/api/schedules/hourly/trigger", json={}).status_code == 404


def test_rules_are_created_listed_described_and_deleted(api, sy):
    inbox = sy.work / "in bōx"
    inbox.mkdir()
    c = api.client()
    assert c.post("/api/channels", json={"name": "ops", "log": True}).status_code == 201
    r = c.post("/api/rules", json={"name": "alert", "on": "run-failed",
                                   "filter": {"detail": {"pipeline": [{"prefix": "churn"}]}},
                                   "target": {"notify": "ops"}})
    assert r.status_code == 201, r.text
    assert r.json()["does"] == "notify ops" and r.json()["fires"] == []
    r = c.post("/api/rules", json={"name": "inbox", "on": "file-arrived",
                                   "watch": str(inbox), "target": {"notify": "ops"}})
    assert r.status_code == 201 and r.json()["watch"].startswith("file://"), r.text
    _errors(c, "POST", "/api/rules", [
        ({"name": "r2", "on": "never", "target": {"notify": "ops"}}, 400, "run-failed"),
        ({"name": "r2", "on": "run-failed", "filter": {"detail": 5},
          "target": {"notify": "ops"}}, 400, "detail"),
        ({"name": "r2", "on": "file-arrived", "watch": "in bōx", "target": {"notify": "ops"}},
         400, "absolute"),
        ({"name": "r2", "on": "file-arrived", "watch": "file:in%20b%C5%8Dx",
          "target": {"notify": "ops"}}, 400, "absolute"),   # not the server's cwd
        ({"name": "r2", "on": "run-failed", "target": {"monitor": "ep", "baseline": "g/1"}},
         400, "exactly one"),
        ({"name": "r2", "on": "run-failed", "target": {"notify": "nosuch"}}, 404, "nosuch"),
        ({"name": "alert", "on": "run-failed", "target": {"notify": "ops"}}, 400, "exists"),
    ])
    assert [x["name"] for x in c.get("/api/rules").json()] == ["alert", "inbox"]
    assert c.get("/api/rules/alert").json()["filter"] == {
        "detail": {"pipeline": [{"prefix": "churn"}]}}
    assert c.request("DELETE", "/api/rules/alert", json={}).status_code == 200
    assert c.get("/api/rules/alert").status_code == 404
    assert c.request("DELETE", "/api/rules/alert", json={}).status_code == 404


def test_a_pipeline_target_that_forks_or_exits_early_is_judged_by_what_it_defines(
        api, sy, monkeypatch):
    """The load's answer does not ride on a pipe: a child the file forks (holding the pipe)
    no longer makes a good file wait out the load timeout and fail, and is killed after;
    ``os._exit(0)`` before an answer is a 400 naming the exit, not a 500."""
    from stackyard.server import _triggers

    monkeypatch.setattr(_triggers, "LOAD_TIMEOUT", 30.0)
    pid_file = sy.work / "fork.pid"
    forks = sy.write("pipes ü/forks.py", f"""
import os, time
if os.fork() == 0:
    with open({str(pid_file)!r} + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
    time.sleep(600)
    os._exit(0)
""" + PIPELINE)
    exits = sy.write("pipes ü/exits0.py", "import os\nos._exit(0)\n")
    c = api.client()
    r = c.post("/api/schedules", json={"name": "forks", "expression": "rate(1 day)",
                                       "target": {"pipeline": str(forks)}})
    assert r.status_code == 201, r.text
    pid = int(sy.wait_until(lambda: pid_file.exists() and pid_file.read_text(),
                            what="the forked child's pid"))
    sy.wait_until(lambda: not sy.pid_alive(pid), timeout=10, what="the fork to be killed")
    _errors(c, "POST", "/api/schedules", [
        ({"name": "n2", "expression": "rate(1 day)", "target": {"pipeline": str(exits)}},
         400, "ended the process (exit status 0)")])
    assert c.get("/api/health").status_code == 200
