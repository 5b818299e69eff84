"""kill -9 the process driving an execution at any moment, resume it: no finished state
runs again (counted by the history and by the functions' own side-effect files)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from states_helpers import APPEND, lambda_arn, register, types

from stackyard.states import StateMachine, describe_execution, get_execution_history
from stackyard.states._executor import execution_arn, execution_dir
from stackyard.store import open_store


def _task(step: str, nxt: str | None) -> dict:
    s = {"Type": "Task", "Resource": lambda_arn("append"),
         "Parameters": {"log.$": "$.log", "step": step, "sleep.$": "$.sleep"},
         "ResultPath": None}
    s.update({"Next": nxt} if nxt else {"End": True})
    return s


def _machine() -> dict:
    """Tasks in a row, a Wait, a Parallel of two tasks, a Map of three, another task."""
    branch = lambda n: {"StartAt": n, "States": {n: _task(n, None)}}  # noqa: E731
    return {"StartAt": "T1", "States": {
        "T1": _task("T1", "T2"), "T2": _task("T2", "Pause"),
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
        "Both": {"Type": "Parallel", "Branches": [branch("P1"), branch("P2")],
                 "ResultPath": None, "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": None,
                 "ItemSelector": {"log.$": "$.log", "sleep.$": "$.sleep",
                                  "step.$": "States.Format('M{}', $$.Map.Item.Value)"},
                 "ItemProcessor": {"StartAt": "Call", "States": {"Call": {
                     "Type": "Task", "Resource": lambda_arn("append"), "End": True}}},
                 "Next": "T3"},
        "T3": _task("T3", None)}}


def _watch_launchers(reaper, arn: str) -> None:
    """Orphaned job launchers are reaped when they end (as a normal init would)."""
    for pidfile in (execution_dir(arn) / "tasks").glob("**/launcher.pid"):
        reaper.watch(int(pidfile.read_text().split()[0]))


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_runs_each_state_once(sy, reaper):
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    register(sy.work / "fn", "append", APPEND)
    log = sy.tmp / "side effects ü.txt"
    StateMachine.create("durable", _machine())
    arn = execution_arn("durable", "x")
    inputs = sy.work / "input.json"
    inputs.write_text(json.dumps({"log": str(log), "sleep": 0.3, "items": [1, 2, 3]}))
    proc = sy.cli_popen("states", "start", "durable", "--input", f"@{inputs}", "--name", "x",
                        "--wait")
    # kill only once the execution exists: a kill before that leaves nothing to resume
    sy.wait_until(lambda: open_store().get_execution(arn) is not None, timeout=60,
                  what="the execution to be recorded")
    kills = 0
    for _ in range(4):
        time.sleep(rng.uniform(0.2, 2.0))   # a random moment, not a wait for something
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        _watch_launchers(reaper, arn)
        proc = sy.cli_popen("states", "resume", arn)
    out, _ = proc.communicate(timeout=120)
    _watch_launchers(reaper, arn)
    if describe_execution(arn)["status"] == "RUNNING":   # the last kill hit a resume
        r = sy.cli("states", "resume", arn)
        assert r.returncode == 0, r.stdout + r.stderr
    desc = describe_execution(arn)
    assert desc["status"] == "SUCCEEDED", (seed, kills, out, desc)
    steps = ["T1", "T2", "P1", "P2", "M1", "M2", "M3", "T3"]
    assert sorted(sy.lines(log)) == sorted(steps), (seed, kills)
    history = types(get_execution_history(arn))
    assert history.count("LambdaFunctionSucceeded") == len(steps), (seed, kills)
    assert history.count("LambdaFunctionScheduled") == len(steps), (seed, kills)
    for name in ("T1", "T2", "Pause", "Both", "Each", "T3"):
        exits = [e for e in get_execution_history(arn) if e["type"].endswith("StateExited")
                 and e["stateExitedEventDetails"]["name"] == name]
        assert len(exits) == 1, (name, seed, kills)


@pytest.mark.slow
def test_a_killed_wait_resumes_waiting_only_the_rest(sy, reaper):
    StateMachine.create("waits", {"StartAt": "Pause", "States": {
        "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Done"},
        "Done": {"Type": "Pass", "End": True}}})
    arn = execution_arn("waits", "w")
    proc = sy.cli_popen("states", "start", "waits", "--name", "w", "--wait")
    sy.wait_until(lambda: (row := open_store().get_thread(arn, "")) is not None
                  and row["wake_at"], what="the Wait to record its end")
    wake_at = open_store().get_thread(arn, "")["wake_at"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    r = sy.cli("states", "resume", arn)
    assert r.returncode == 0, r.stdout + r.stderr
    history = get_execution_history(arn)
    assert types(history).count("WaitStateEntered") == 1
    assert open_store().get_thread(arn, "")["status"] == "SUCCEEDED"
    exited = next(e for e in open_store().get_history(arn) if e["type"] == "WaitStateExited")
    assert exited["ts"] >= wake_at      # the end recorded before the kill is what counted


@pytest.mark.slow
def test_stop_aborts_the_execution_and_its_running_function(sy, reaper):
    register(sy.work / "fn", "append", APPEND)
    StateMachine.create("long", {"StartAt": "T", "States": {"T": _task("T", None)}})
    inputs = json.dumps({"log": str(sy.work / "l.txt"), "sleep": 120})
    for name, kill_driver in (("live", False), ("orphan", True)):
        arn = execution_arn("long", name)
        proc = sy.cli_popen("states", "start", "long", "--input", inputs, "--name", name,
                            "--wait")
        pidfile = sy.wait_until(lambda a=arn: next(iter(
            (execution_dir(a) / "tasks").glob("**/launcher.pid")), None),
            what="the function's job to start")
        sy.wait_until(lambda p=pidfile: p.read_text().strip(), what="the launcher's pid")
        launcher = int(pidfile.read_text().split()[0])
        reaper.watch(launcher)
        if kill_driver:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        else:   # a second driver is refused while the first lives
            second = sy.cli("states", "resume", arn)
            assert second.returncode == 2 and "is being driven by pid" in second.stderr
        r = sy.cli("states", "stop", arn, "--error", "Manual", "--cause", "enough")
        assert r.returncode == 0, r.stdout + r.stderr
        if not kill_driver:
            proc.communicate(timeout=60)
            assert proc.returncode == 1            # the start --wait reports the abort
        sy.wait_until(lambda a=arn: describe_execution(a)["status"] == "ABORTED",
                      what="the abort")
        sy.wait_until(lambda p=launcher: not sy.pid_alive(p), what="the job to end")
        assert describe_execution(arn)["error"] == "Manual"
        assert types(get_execution_history(arn))[-1] == "ExecutionAborted"


def test_resume_of_a_finished_execution_changes_nothing(sy):
    StateMachine.create("done", {"StartAt": "A", "States": {"A": {"Type": "Pass",
                                                                   "End": True}}})
    r = sy.cli("states", "start", "done", "--name", "d", "--wait")
    assert r.returncode == 0
    before = get_execution_history(execution_arn("done", "d"))
    r = sy.cli("states", "resume", "done:d", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "SUCCEEDED"
    assert get_execution_history(execution_arn("done", "d")) == before
    assert not Path(execution_dir(execution_arn("done", "d")) / "tasks").exists()
