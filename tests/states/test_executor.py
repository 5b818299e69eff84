"""The executor with real parts: the store, Lambda functions as job subprocesses, tokens
answered from another process, nested executions."""

from __future__ import annotations

import json
import threading

import pytest
from states_helpers import (
    APPEND,
    RENDEZVOUS,
    TOKEN,
    chain,
    lambda_arn,
    output,
    register,
    types,
)

from stackyard.errors import ConflictError, UsageError
from stackyard.states import (
    StateMachine,
    send_task_failure,
    send_task_heartbeat,
    send_task_success,
)
from stackyard.store import open_store


def test_pass_choice_wait_succeed_and_fail_run_end_to_end():
    d = {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"n": 2}, "ResultPath": "$.cfg", "Next": "Pick"},
        "Pick": {"Type": "Choice", "Choices": [
            {"Variable": "$.cfg.n", "NumericGreaterThan": 1, "Next": "Big"}],
            "Default": "Small"},
        "Big": {"Type": "Pass", "Parameters": {"size": "big", "n.$": "$.cfg.n",
                                               "who.$": "$$.Execution.Name"},
                "Next": "Done"},
        "Small": {"Type": "Fail", "Error": "TooSmall", "Cause": "n was not above 1"},
        "Done": {"Type": "Succeed"}}}
    sm = StateMachine.create("basic", d)
    e = sm.start_execution({"x": 1}, name="first")
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED"
    assert output(desc) == {"size": "big", "n": 2, "who": "first"}
    assert types(e.history()) == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ChoiceStateEntered",
        "ChoiceStateExited", "PassStateEntered", "PassStateExited", "SucceedStateEntered",
        "SucceedStateExited", "ExecutionSucceeded"]
    hist = e.history()
    assert [h["id"] for h in hist] == list(range(1, len(hist) + 1))
    assert all(h["previousEventId"] == h["id"] - 1 for h in hist)
    assert hist[1]["stateEnteredEventDetails"]["name"] == "Init"

    d["States"]["Init"]["Result"] = {"n": 0}
    sm.update(d)
    failed = sm.start_execution({}, name="second").describe()
    assert (failed["status"], failed["error"], failed["cause"]) == (
        "FAILED", "TooSmall", "n was not above 1")
    assert failed["stateMachineVersion"] == 2


def test_same_execution_name_twice_is_refused_and_writes_nothing():
    sm = StateMachine.create("m", {"StartAt": "A", "States": {"A": {"Type": "Pass",
                                                                     "End": True}}})
    sm.start_execution({}, name="once")
    with pytest.raises(UsageError, match="ExecutionAlreadyExists"):
        sm.start_execution({"other": 1}, name="once")
    assert len(sm.list_executions()) == 1


def test_lambda_error_is_retried_then_caught_with_aws_error_and_cause(sy):
    register(sy.work / "fn", "append", APPEND)
    log = sy.work / "calls.txt"
    d = chain("Flaky", Retry=[{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1,
                               "MaxAttempts": 2, "BackoffRate": 1.0}],
              Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                      "Next": "Handled"}])
    d["States"]["Flaky"]["Parameters"]["fail"] = True
    d["States"]["Handled"] = {"Type": "Pass", "End": True}
    e = StateMachine.create("flaky", d).start_execution({"log": str(log), "sleep": 0})
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED"
    assert sy.lines(log) == ["Flaky"] * 3          # the first try and two retries
    err = output(desc)["error"]
    assert err["Error"] == "ValueError"
    cause = json.loads(err["Cause"])
    assert cause["errorType"] == "ValueError"
    assert cause["errorMessage"] == "failing on purpose: Flaky"
    assert any("raise ValueError" in line for line in cause["stackTrace"])
    assert types(e.history()).count("LambdaFunctionFailed") == 3


def test_lambda_invoke_shape_and_unknown_function(sy):
    register(sy.work / "fn", "append", APPEND)
    d = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "append", "Payload": {
            "log": str(sy.work / "l.txt"), "step.$": "$.step"}},
        "ResultSelector": {"p.$": "$.Payload", "code.$": "$.StatusCode"},
        "End": True}}}
    e = StateMachine.create("invoke", d).start_execution({"step": "s1"})
    assert output(e.describe()) == {"p": {"log": str(sy.work / "l.txt"), "step": "s1"},
                                    "code": 200}
    d["States"]["Call"]["Parameters"]["FunctionName"] = "nobody"
    missing = StateMachine.create("invoke2", d).start_execution({"step": "s1"}).describe()
    assert missing["status"] == "FAILED"
    assert missing["error"] == "Lambda.ResourceNotFoundException"
    assert "nobody" in missing["cause"]


def test_parallel_branches_run_at_the_same_time(sy):
    """Each branch's function waits for the other's marker: run one after the other, the
    first would never see the second and fail."""
    register(sy.work / "fn", "meet", RENDEZVOUS)
    meet = sy.tmp / "rendez vous ü"
    meet.mkdir()

    def branch(me: str, other: str) -> dict:
        return {"StartAt": me, "States": {me: {
            "Type": "Task", "Resource": lambda_arn("meet"),
            "Parameters": {"dir": str(meet), "me": me, "other": other}, "End": True}}}

    d = {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "Branches": [branch("left", "right"), branch("right", "left")],
        "End": True}}}
    desc = StateMachine.create("par", d).start_execution({}).describe()
    assert desc["status"] == "SUCCEEDED", desc
    assert output(desc) == ["left", "right"]


def test_map_items_context_and_tolerated_failures():
    proc = {"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.v", "NumericGreaterThan": 2, "Next": "Bad"}], "Default": "Ok"},
        "Ok": {"Type": "Pass", "End": True},
        "Bad": {"Type": "Fail", "Error": "Big", "Cause": "too big"}}}
    d = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index",
                         "tag.$": "$.tag"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **proc},
        "ToleratedFailureCount": 1, "End": True}}}
    sm = StateMachine.create("map", d)
    e = sm.start_execution({"items": [1, 2, 3], "tag": "t"})
    out = output(e.describe())
    assert out[:2] == [{"v": 1, "i": 0, "tag": "t"}, {"v": 2, "i": 1, "tag": "t"}]
    assert out[2] == {"Error": "Big", "Cause": "too big"}
    h = types(e.history())
    assert h.count("MapIterationStarted") == 3 and h.count("MapIterationFailed") == 1
    over = sm.start_execution({"items": [5, 6, 1], "tag": "t"}).describe()
    assert (over["status"], over["error"]) == ("FAILED",
                                               "States.ExceedToleratedFailureThreshold")


def test_task_timeout_is_states_timeout_and_stops_the_function(sy):
    register(sy.work / "fn", "append", APPEND)
    d = chain("Slow", TimeoutSeconds=1,
              Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}])
    d["States"]["TimedOut"] = {"Type": "Pass", "End": True}
    e = StateMachine.create("slow", d).start_execution(
        {"log": str(sy.work / "l.txt"), "sleep": 60})
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED"
    assert output(desc)["Error"] == "States.Timeout"
    assert "TaskTimedOut" not in types(e.history())   # a function ARN: LambdaFunction*
    assert "LambdaFunctionTimedOut" in types(e.history())


def _token_machine(sy, heartbeat: int | None = None) -> StateMachine:
    register(sy.work / "fn", "tok", TOKEN)
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "tok", "Payload": {
                "token.$": "$$.Task.Token", "token_file": str(sy.work / "token")}},
            "Catch": [{"ErrorEquals": ["Rejected", "States.HeartbeatTimeout"],
                       "Next": "Caught"}],
            "Next": "After"}
    if heartbeat:
        task["HeartbeatSeconds"] = heartbeat
    return StateMachine.create("tok", {"StartAt": "Ask", "States": {
        "Ask": task, "After": {"Type": "Pass", "End": True},
        "Caught": {"Type": "Pass", "End": True}}})


def test_wait_for_task_token_success_and_failure(sy):
    sm = _token_machine(sy)
    token_file = sy.work / "token"

    def answer(ok: bool) -> None:
        token = sy.wait_until(lambda: token_file.exists() and token_file.read_text(),
                              what="the token")
        token_file.unlink()
        if ok:
            send_task_success(token, '{"approved": true}')
            with pytest.raises(UsageError, match="no longer waiting"):
                send_task_success(token, "{}")
        else:
            send_task_failure(token, "Rejected", "no thanks")

    t = threading.Thread(target=answer, args=(True,))
    t.start()
    e = sm.start_execution({})
    t.join()
    assert output(e.describe()) == {"approved": True}
    t = threading.Thread(target=answer, args=(False,))
    t.start()
    e = sm.start_execution({})
    t.join()
    assert output(e.describe()) == {"Error": "Rejected", "Cause": "no thanks"}
    with pytest.raises(UsageError, match="TaskDoesNotExist"):
        send_task_success("no-such-token", "{}")


def test_heartbeat_timeout_when_no_heartbeat_comes(sy):
    e = _token_machine(sy, heartbeat=1).start_execution({})
    desc = e.describe()
    assert output(desc)["Error"] == "States.HeartbeatTimeout"
    assert "TaskTimedOut" in types(e.history())
    # the timed-out task's token is closed: a late answer is refused, not silently dropped
    token = (sy.work / "token").read_text()
    with pytest.raises(ConflictError, match="TaskTimedOut.*TIMED_OUT"):
        send_task_success(token, "{}")
    with pytest.raises(ConflictError, match="TaskTimedOut"):
        send_task_heartbeat(token)
    assert open_store().get_token(token)["status"] == "TIMED_OUT"


def test_nested_start_execution_sync():
    StateMachine.create("child", {"StartAt": "Echo", "States": {"Echo": {
        "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
        "End": True}}})
    parent = StateMachine.create("parent", {"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn":
                       "arn:aws:states:local:000000000000:stateMachine:child",
                       "Input": {"n.$": "$.n"}},
        "OutputPath": "$.Output", "End": True}}})
    e = parent.start_execution({"n": 21})
    assert output(e.describe()) == {"doubled": 42}
    children = StateMachine("child").list_executions()
    assert len(children) == 1 and children[0]["status"] == "SUCCEEDED"


def test_state_output_over_256_kib_fails_with_data_limit_exceeded():
    d = {"StartAt": "Big", "States": {"Big": {
        "Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s"}, "End": True}}}
    desc = StateMachine.create("big", d).start_execution({"s": "x" * 200_000}).describe()
    assert (desc["status"], desc["error"]) == ("FAILED", "States.DataLimitExceeded")
    with pytest.raises(UsageError, match="DataLimitExceeded"):
        StateMachine("big").start_execution({"x": "y" * (256 * 1024)})


def test_every_transition_is_one_row_move_in_the_store():
    """The thread row and the history agree after every execution: the root thread ends
    SUCCEEDED with the execution's output, and each state's exit is in the history."""
    d = {"StartAt": "S0", "States": {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"}
                                     for i in range(20)}}
    d["States"]["S20"] = {"Type": "Pass", "End": True}
    e = StateMachine.create("chain", d).start_execution({"k": 1})
    store = open_store()
    root = store.get_thread(e.arn, "")
    assert root["status"] == "SUCCEEDED" and root["output"] == {"k": 1}
    assert types(e.history()).count("PassStateExited") == 21


def test_registered_function_runs_its_snapshot_and_a_tampered_one_is_refused(sy):
    """``Lambda(...).create()`` snapshots the script: an edit of the file changes nothing
    until it is registered again, and a changed snapshot is refused by its hash."""
    from stackyard import artifacts
    from stackyard.lambdas import get_function
    from stackyard.workflow import Lambda

    script = sy.write("fn dir ü/echo.py", "def handler(event, context):\n    return 'v1'\n")
    Lambda(function_name="echo", script=str(script), handler="echo.handler").create()
    sm = StateMachine.create("echo", {"StartAt": "E", "States": {"E": {
        "Type": "Task", "Resource": lambda_arn("echo"), "End": True}}})
    script.write_text("def handler(event, context):\n    return 'v2'\n")
    assert output(sm.start_execution({}).describe()) == "v1"
    stored = artifacts.verify(get_function("echo")["CodeUri"])
    stored.chmod(0o644)
    stored.write_text("def handler(event, context):\n    return 'evil'\n")
    desc = sm.start_execution({}).describe()
    assert desc["status"] == "FAILED" and "modified after it was stored" in desc["cause"]
    Lambda(function_name="echo", script=str(script), handler="echo.handler").upsert()
    assert output(sm.start_execution({}).describe()) == "v2"


def test_execution_timeout_seconds_times_the_execution_out():
    e = StateMachine.create("slowpoke", {"StartAt": "W", "TimeoutSeconds": 1, "States": {
        "W": {"Type": "Wait", "Seconds": 30, "End": True}}}).start_execution({})
    desc = e.describe()
    assert (desc["status"], desc["error"]) == ("TIMED_OUT", "States.Timeout")
    assert types(e.history())[-1] == "ExecutionTimedOut"
