"""A detached driver that dies (kill -9) is visible and recoverable: ``describe`` says no
driver lives, ``Execution.wait()`` (and the SDK's ``get_output(wait=True)``) resumes the
execution instead of polling forever, and gives up with a clear error if drivers keep
dying."""

from __future__ import annotations

import json
import os
import signal

import pytest
from states_helpers import APPEND, chain, register, types

from stackyard.errors import StackyardError
from stackyard.states import StateMachine, describe_execution, get_execution_history
from stackyard.states._executor import execution_dir


def _driver_pid(arn: str) -> int:
    return int((execution_dir(arn) / "driver.pid").read_text().split()[0])


@pytest.mark.slow
def test_kill_9_of_a_detached_driver_shows_dead_and_wait_resumes_it(sy, reaper):
    register(sy.work / "fn", "append", APPEND)
    log = sy.work / "side effects ü.txt"
    machine = StateMachine.create("detached", chain("T1", "T2"))
    e = machine.start_execution({"log": str(log), "sleep": 1.5}, name="x", wait=False)
    sy.wait_until(lambda: "T1" in sy.lines(log), what="T1's function to start")
    driver = _driver_pid(e.arn)
    assert describe_execution(e.arn)["driver"] == "alive"
    os.kill(driver, signal.SIGKILL)
    for pidfile in (execution_dir(e.arn) / "tasks").glob("**/launcher.pid"):
        reaper.watch(int(pidfile.read_text().split()[0]))   # orphaned: reap as init would

    # a killed process lets go of its lock once its last thread is gone
    sy.wait_until(lambda: describe_execution(e.arn)["driver"] == "dead", what="no driver")
    desc = describe_execution(e.arn)
    assert desc["status"] == "RUNNING" and desc["driver"] == "dead"
    r = sy.cli("states", "describe", e.arn)
    assert r.returncode == 0, r.stderr
    assert "no live driver" in r.stdout and f"stackyard states resume {e.arn}" in r.stdout
    assert json.loads(sy.cli("states", "describe", e.arn, "--json").stdout)["driver"] == "dead"

    assert e.wait(timeout=120) == "SUCCEEDED"          # resumed, not polled forever
    desc = describe_execution(e.arn)
    assert "driver" not in desc
    assert sy.lines(log) == ["T1", "T2"]                # T1's job adopted, not rerun
    assert types(get_execution_history(e.arn)).count("LambdaFunctionScheduled") == 2


@pytest.mark.slow
def test_wait_gives_up_when_every_driver_dies_and_names_the_log(sy, monkeypatch):
    """A driver that cannot start (here: a broken ``stackyard`` first on PYTHONPATH)."""
    broken = sy.work / "broken"
    (broken / "stackyard").mkdir(parents=True)
    (broken / "stackyard" / "__init__.py").write_text("import os\nos._exit(9)\n")
    machine = StateMachine.create("doomed", {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": True}}})
    monkeypatch.setenv("PYTHONPATH", str(broken))
    e = machine.start_execution({}, name="d", wait=False)
    with pytest.raises(StackyardError, match="driver died 4 times") as info:
        e.wait(timeout=120)
    assert "driver.log" in str(info.value) and "stackyard states resume" in str(info.value)
    assert describe_execution(e.arn)["status"] == "RUNNING"
    monkeypatch.delenv("PYTHONPATH")
    assert e.wait(timeout=120) == "SUCCEEDED"            # a healthy driver finishes it


def test_stop_before_a_detached_driver_starts_stays_stopped(sy):
    """The detached driver never reopens an execution stopped while it was starting."""
    machine = StateMachine.create("quick", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 30, "End": True}}})
    e = machine.start_execution({}, name="s", wait=False)
    assert e.stop(error="Manual", cause="at once") in ("ABORTED", "ABORTING")
    assert e.wait(timeout=60) == "ABORTED"
    sy.wait_until(lambda: not sy.pid_alive(_driver_pid(e.arn)), what="the driver to end")
    desc = describe_execution(e.arn)
    assert desc["status"] == "ABORTED" and desc["error"] == "Manual"
    assert types(get_execution_history(e.arn)).count("ExecutionAborted") == 1
