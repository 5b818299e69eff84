"""An answer wakes a run whose runner is gone, exactly once, and never a run that a live
runner drives; ``runs describe`` shows what a step waits for; expired tokens are refused.

Runners and answerers are real processes (kill -9 included); runner starts are counted
from the store: the ``callback.resumed`` events, the attempts, and the run's ``.driver``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stackyard import engine
from stackyard.callbacks import send_pipeline_execution_step_success
from stackyard.errors import DefinitionError, UsageError

RUNNER = """
import json, sys
from stackyard import engine
print(engine.start_run(json.loads(open(sys.argv[1]).read())).run_id, flush=True)
"""
PIPELINE = """
from stackyard.workflow import (CallbackOutput, CallbackOutputTypeEnum, CallbackStep,
                                ConditionGreaterThan, ConditionStep, Pipeline)

steps = [CallbackStep(f"Review{i}", f"queue {i} é", inputs={"i": i}, timeout=TIMEOUT,
                      outputs=[CallbackOutput("count", CallbackOutputTypeEnum.Integer)])
         for i in range(N)]
big = ConditionStep("Big", conditions=[ConditionGreaterThan(
    left=steps[0].properties.Outputs["count"], right=steps[-1].properties.Outputs["count"]
    if N > 1 else 5)], if_steps=[], else_steps=[])
pipeline = Pipeline("wake", steps=[*steps, big])
"""


def _pipeline_file(sy: Any, n: int = 1, timeout: float = 3600) -> Path:
    return sy.write("pipe line é/wake_pipe.py", PIPELINE, N=n, TIMEOUT=timeout)


def _start(sy: Any, n: int = 1, timeout: float = 3600) -> subprocess.Popen:
    """A runner process (the engine's start_run) of the pipeline with ``n`` callbacks."""
    r = subprocess.run([sys.executable, "-c", "import runpy, json, sys; print(json.dumps("
                        "runpy.run_path(sys.argv[1])['pipeline'].definition_dict()))",
                        str(_pipeline_file(sy, n, timeout))],
                       capture_output=True, text=True, check=True)
    path = sy.tmp / "definition.json"
    path.write_text(r.stdout)
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _tokens(sy: Any, n: int = 1) -> dict[str, str]:
    """{step: token} once all ``n`` callbacks wait."""
    def all_waiting() -> Any:
        rows = sy.cli_json("callback", "list", "--waiting")
        return rows if len(rows) == n else None
    return {r["step"]: r["token"] for r in sy.wait_until(all_waiting, timeout=60,
                                                         what="the callbacks")}


def _token_of_short_wait(sy: Any) -> str:
    """The token of a callback with a tiny timeout: read from the store as soon as it exists,
    since it may time out before a `callback list --waiting` would see it waiting."""
    def token() -> str | None:
        try:
            rows = sy.db_query("SELECT token FROM callbacks")
        except sqlite3.OperationalError:  # the runner has not created the store yet
            return None
        return rows[0][0] if rows else None
    return sy.wait_until(token, timeout=60, what="the callback's token")


def _kill(runner: subprocess.Popen) -> None:
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)


def _run_id(sy: Any) -> str:
    return sy.db_query("SELECT run_id FROM runs")[0][0]


def _wakes(sy: Any) -> list[dict[str, Any]]:
    return [json.loads(p) for (p,) in sy.db_query(
        "SELECT payload FROM events WHERE kind='callback.resumed' ORDER BY id")]


def _ended(sy: Any, run_id: str, reaper: Any) -> str:
    for w in _wakes(sy):
        reaper.watch(w["pid"])
    status = sy.wait_until(lambda: (s := engine.describe_run(run_id)["status"]) != "Executing"
                           and s, timeout=90, what="the run to end")
    for w in _wakes(sy):   # the continuation exits right after the run ends
        sy.wait_until(lambda w=w: not sy.pid_alive(w["pid"]), timeout=30, what="its exit")
    return status


@pytest.mark.timeout(180)
def test_kill_9_then_a_cli_answer_resumes_the_run_by_itself_with_one_runner(
        sy, reaper, monkeypatch):
    sy.home = sy.tmp / "home with space é"
    monkeypatch.setenv("STACKYARD_HOME", str(sy.home))
    runner = _start(sy)
    token = _tokens(sy)["Review0"]
    run_id = _run_id(sy)
    _kill(runner)
    r = sy.cli("callback", "succeed", token, "--output", "count=2")
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stderr
    assert _ended(sy, run_id, reaper) == "Succeeded"
    wakes = _wakes(sy)
    assert len(wakes) == 1 and wakes[0]["token"] == token and wakes[0]["run_id"] == run_id
    # the one continuation drove the run: it holds .driver, and adopted the waiting attempt
    driver = (sy.home / "runs" / run_id / ".driver").read_text().strip()
    assert int(driver) == wakes[0]["pid"]
    assert sy.db_query("SELECT step, n FROM attempts WHERE step='Review0'") == [("Review0", 1)]
    assert sy.db_query("SELECT token, receives FROM callbacks") == [(token, 0)]  # one message
    steps = {s["name"]: s for s in engine.describe_run(run_id)["steps"]}
    assert steps["Review0"]["outputs"] == {"OutputParameters": {"count": 2}}
    assert steps["Big"]["outputs"]["Outcome"] is False      # 2 > 5 read from the answer
    assert f"run {run_id} ended: Succeeded" in Path(wakes[0]["log"]).read_text()
    r = sy.cli("callback", "succeed", token, "--output", "count=3")
    assert r.returncode == 2 and "already answered" in r.stderr
    assert len(_wakes(sy)) == 1


@pytest.mark.timeout(180)
def test_two_concurrent_answers_one_counts_and_one_runner_wakes(sy, reaper):
    runner = _start(sy)
    token = _tokens(sy)["Review0"]
    run_id = _run_id(sy)
    _kill(runner)
    procs = [sy.cli_popen("callback", "succeed", token, "--output", "count=9"),
             sy.cli_popen("callback", "fail", token, "--reason", "rejected")]
    results = [(p.wait(60), p.stdout.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    refused = next(text for rc, text in results if rc == 2)
    assert "already answered" in refused and refused.count("\n") == 1
    accepted = results.index(next(x for x in results if x[0] == 0))
    final = _ended(sy, run_id, reaper)
    assert final == ("Succeeded" if accepted == 0 else "Failed")
    assert len(_wakes(sy)) == 1
    assert sy.db_query("SELECT COUNT(*) FROM attempts WHERE step='Review0'") == [(1,)]


@pytest.mark.timeout(180)
def test_two_callbacks_answered_at_once_with_no_runner_wake_one_runner(sy, reaper):
    """Two tokens of one run, two answers at once: both count, one continuation starts."""
    runner = _start(sy, n=2)
    tokens = _tokens(sy, n=2)
    run_id = _run_id(sy)
    _kill(runner)
    procs = [sy.cli_popen("callback", "succeed", tokens["Review0"], "--output", "count=8"),
             sy.cli_popen("callback", "succeed", tokens["Review1"], "--output", "count=3")]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert _ended(sy, run_id, reaper) == "Succeeded"
    assert len(_wakes(sy)) == 1
    steps = {s["name"]: s for s in engine.describe_run(run_id)["steps"]}
    assert steps["Big"]["outputs"]["Outcome"] is True         # 8 > 3: both answers read


@pytest.mark.timeout(180)
def test_an_answer_while_stackyard_run_lives_wakes_nothing_and_run_keeps_blocking(sy, reaper):
    runner = sy.cli_popen("run", _pipeline_file(sy), "-q")
    reaper.watch(runner.pid)
    token = _tokens(sy)["Review0"]
    run_id = _run_id(sy)
    # describe: the waiting step, its queue and its token (text and --json)
    d = sy.cli_json("runs", "describe", run_id)
    review = next(s for s in d["steps"] if s["name"] == "Review0")
    assert review["status"] == "Executing"
    assert review["waiting"] == "waiting for callback on queue 0 é"
    assert review["callback"] == {"token": token, "queue": "queue 0 é"}
    text = sy.cli("runs", "describe", run_id).stdout
    assert "Executing (waiting for callback on queue 0 é)" in text and token in text
    assert runner.poll() is None                       # `stackyard run` still blocks
    send_pipeline_execution_step_success(CallbackToken=token,
                                         OutputParameters=[{"Name": "count", "Value": "6"}])
    out, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, out
    assert f"run id: {run_id}" in out
    assert _wakes(sy) == []                            # the live runner read the answer
    assert engine.describe_run(run_id)["status"] == "Succeeded"
    after = sy.cli_json("runs", "describe", run_id)
    assert all("callback" not in s for s in after["steps"])


@pytest.mark.timeout(180)
def test_an_answer_while_a_manual_resume_drives_the_run_wakes_nothing(sy, reaper):
    runner = _start(sy)
    token = _tokens(sy)["Review0"]
    run_id = _run_id(sy)
    _kill(runner)
    resumer = sy.cli_popen("runs", "resume", run_id, "-q")
    reaper.watch(resumer.pid)
    driver = sy.home / "runs" / run_id / ".driver"
    sy.wait_until(lambda: driver.exists() and driver.read_text().strip() == str(resumer.pid),
                  timeout=60, what="the resume to drive the run")
    r = sy.cli("callback", "succeed", token, "--output", "count=7")
    assert r.returncode == 0 and "resumed" not in r.stderr, r.stderr
    out, _ = resumer.communicate(timeout=60)
    assert resumer.returncode == 0, out
    assert _wakes(sy) == []
    assert sy.db_query("SELECT token FROM callbacks") == [(token,)]   # the same token kept


@pytest.mark.timeout(180)
def test_an_expired_token_is_refused_and_wakes_nothing(sy, reaper):
    runner = _start(sy, timeout=3)  # long enough to kill the runner before it times out
    token = _token_of_short_wait(sy)
    _kill(runner)                                      # nobody marks it Timeout
    deadline = sy.db_query("SELECT deadline FROM callbacks")[0][0]
    sy.wait_until(lambda: time.time() > deadline, timeout=30, what="the deadline")
    r = sy.cli("callback", "succeed", token, "--output", "count=1")
    assert r.returncode == 2 and "expired" in r.stderr and r.stderr.count("\n") == 1
    assert _wakes(sy) == []
    assert sy.db_query("SELECT status FROM callbacks") == [("Executing",)]


@pytest.mark.timeout(180)
def test_a_timed_out_step_fails_with_timeout_and_its_token_is_expired(sy, reaper):
    runner = _start(sy, timeout=0.5)
    reaper.watch(runner.pid)
    token = _token_of_short_wait(sy)
    run_id = runner.communicate(timeout=60)[0].split()[-1]
    review = {s["name"]: s for s in engine.describe_run(run_id)["steps"]}["Review0"]
    assert review["status"] == "Failed" and "within 0.5 s" in review["failure_reason"]
    with pytest.raises(UsageError, match="expired"):
        send_pipeline_execution_step_success(
            CallbackToken=token, OutputParameters=[{"Name": "count", "Value": "1"}])


@pytest.mark.parametrize("timeout", [0, -1, "nan", float("inf"), "١", True, "soon", None])
def test_timeout_is_checked_as_a_number(timeout):
    from stackyard.workflow import CallbackStep

    with pytest.raises(DefinitionError, match="callback timeout"):
        CallbackStep("Review", "q", inputs={}, outputs=[], timeout=timeout)


def test_a_definition_with_a_bad_timeout_is_refused_by_the_engine():
    from stackyard.workflow import CallbackStep, Pipeline

    definition = json.loads(Pipeline("p", steps=[CallbackStep("R", "q", {}, [])]).definition())
    definition["Steps"][0]["Timeout"] = "1e999"
    with pytest.raises(DefinitionError, match="callback timeout"):
        engine.compile_definition(definition)


@pytest.mark.timeout(120)
def test_bad_answers_are_one_line_exit_2_and_count_nothing(sy, reaper):
    runner = _start(sy)
    reaper.watch(runner.pid)
    token = _tokens(sy)["Review0"]
    for args, words in ((["--output", "count"], "NAME=VALUE"),
                        ([], "give a value"),
                        (["--output", "count=1.5"], "declared Integer"),
                        (["--output", "count=٣"], "declared Integer"),
                        (["--output", "count=1", "--output", "count=2"], "twice")):
        r = sy.cli("callback", "succeed", token, *args)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1
    with pytest.raises(UsageError, match="as text"):
        send_pipeline_execution_step_success(
            CallbackToken=token, OutputParameters=[{"Name": "count", "Value": 3}])
    assert sy.db_query("SELECT status FROM callbacks") == [("Executing",)]
    assert sy.cli("callback", "fail", token, "--reason", "done").returncode == 0
    runner.communicate(timeout=60)


HANDLED = """
from stackyard.workflow import CallbackStep, Pipeline

cleanup = CallbackStep("Cleanup", "cleanup q", inputs={}, outputs=[])
work = CallbackStep("Work", "work q", inputs={}, outputs=[])
work.on_failure = cleanup
pipeline = Pipeline("handled", steps=[work, cleanup])
"""


@pytest.mark.timeout(180)
def test_a_woken_run_keeps_its_failure_and_runs_its_waiting_handler_once(sy, reaper):
    """The continuation goes on as the dead runner would have: the failed step stays failed
    (nothing reopened), and the on_failure handler it was waiting on is not started again."""
    path = sy.write("handled_pipe.py", HANDLED)
    runner = sy.cli_popen("run", path, "-q")
    from stackyard.callbacks import send_pipeline_execution_step_failure

    send_pipeline_execution_step_failure(CallbackToken=_tokens(sy)["Work"], FailureReason="no")
    cleanup = sy.wait_until(lambda: _waiting_token(sy, "Cleanup"), timeout=60,
                            what="the handler's callback")
    run_id = _run_id(sy)
    _kill(runner)
    assert sy.cli("callback", "succeed", cleanup).returncode == 0
    assert _ended(sy, run_id, reaper) == "Failed"
    d = engine.describe_run(run_id)
    assert "no" in d["failure_reason"]
    assert sy.db_query("SELECT step, n, status FROM attempts ORDER BY step") == [
        ("Cleanup", 1, "Succeeded"), ("Work", 1, "Failed")]
    assert len(_wakes(sy)) == 1


def _waiting_token(sy: Any, step: str) -> str | None:
    rows = [r for r in sy.cli_json("callback", "list", "--waiting") if r["step"] == step]
    return rows[0]["token"] if rows else None
