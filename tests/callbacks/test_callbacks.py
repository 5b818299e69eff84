"""Callback steps end to end: a runner process waits, another process answers through the
CLI, and the answer's typed outputs reach later steps; bad answers are refused (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from stackyard import engine
from stackyard.callbacks import (
    receive_messages,
    send_pipeline_execution_step_failure,
    send_pipeline_execution_step_success,
)
from stackyard.errors import UsageError

RUNNER = """
import json, sys
from stackyard import engine
print(engine.start_run(json.loads(open(sys.argv[1]).read())).run_id, flush=True)
"""
QUEUE = "review queue é"


def _definition() -> dict[str, Any]:
    from stackyard.workflow import (
        CallbackOutput,
        CallbackOutputTypeEnum,
        CallbackStep,
        ConditionGreaterThan,
        ConditionStep,
        ParameterString,
        Pipeline,
    )

    q = ParameterString("Queue", default_value=QUEUE)
    cb = CallbackStep("Review", q, inputs={"mapping": "file:///m.json", "n": 3},
                      outputs=[CallbackOutput("count", CallbackOutputTypeEnum.Integer),
                               CallbackOutput("ok", CallbackOutputTypeEnum.Boolean),
                               CallbackOutput("where")])
    cond = ConditionStep("Big", conditions=[ConditionGreaterThan(
        left=cb.properties.Outputs["count"], right=5)], if_steps=[], else_steps=[])
    return json.loads(Pipeline("cb", parameters=[q], steps=[cb, cond]).definition())


def _start(sy: Any) -> subprocess.Popen:
    path = sy.tmp / "definition.json"
    path.write_text(json.dumps(_definition()))
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_message(sy: Any) -> dict[str, Any]:
    def one() -> Any:
        got = sy.cli_json("callback", "receive", QUEUE, "--wait", "0.5")
        return got[0] if got else None
    return sy.wait_until(one, timeout=60, what="the callback's message")


def _steps(run_id: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in engine.describe_run(run_id)["steps"]}


@pytest.mark.timeout(120)
def test_answered_from_another_process_and_typed_outputs_reach_later_steps(sy, reaper):
    runner = _start(sy)
    reaper.watch(runner.pid)
    msg = _wait_message(sy)
    assert msg["arguments"] == {"mapping": "file:///m.json", "n": 3}
    assert msg["step"] == "Review" and msg["status"] == "Executing"
    assert sy.cli_json("callback", "receive", QUEUE) == []   # hidden from a second worker
    token = msg["token"]
    # bad answers: each refused with one line and exit 2, and none counts
    for args, words in (
            (["--output", "count=seven", "--output", "ok=true", "--output", "where=x"],
             "declared Integer"),
            (["--output", "count=7", "--output", "ok=true"], "'where'"),
            (["--output", "count=7", "--output", "ok=yes", "--output", "where=x"],
             "declared Boolean"),
            (["--output", "nope=1"], "not declared")):
        r = sy.cli("callback", "succeed", token, *args)
        assert r.returncode == 2 and words in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
    r = sy.cli("callback", "succeed", "no-such-token", "--output", "count=1")
    assert r.returncode == 2 and "unknown" in r.stderr
    r = sy.cli("callback", "succeed", token, "--output", "count=7", "--output", "ok=True",
               "--output", "where=s3://b/k")
    assert r.returncode == 0, r.stderr
    r = sy.cli("callback", "fail", token, "--reason", "late")
    assert r.returncode == 2 and "already answered" in r.stderr
    out, _ = runner.communicate(timeout=60)
    run_id = out.split()[-1]
    steps = _steps(run_id)
    assert engine.describe_run(run_id)["status"] == "Succeeded"
    assert steps["Review"]["outputs"] == {"OutputParameters": {
        "count": 7, "ok": True, "where": "s3://b/k"}}
    assert steps["Big"]["outputs"]["Outcome"] is True          # 7 > 5: an Integer arrived
    body = json.loads(sy.db_query("SELECT body FROM callbacks")[0][0])
    assert body == {"token": token, "pipelineExecutionArn": run_id,
                    "arguments": msg["arguments"], "status": "Executing"}


@pytest.mark.timeout(120)
def test_a_failure_answer_fails_the_step_with_its_reason(sy, reaper):
    runner = _start(sy)
    reaper.watch(runner.pid)
    got = sy.wait_until(lambda: receive_messages(QUEUE, WaitTimeSeconds=0.5).get("Messages"),
                        timeout=60, what="the message")
    assert set(got[0]) == {"MessageId", "ReceiptHandle", "Body"}
    token = json.loads(got[0]["Body"])["token"]
    assert got[0]["MessageId"] == token
    send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="mapping rejected")
    with pytest.raises(UsageError, match="already answered"):
        send_pipeline_execution_step_success(CallbackToken=token, OutputParameters=[])
    run_id = runner.communicate(timeout=60)[0].split()[-1]
    review = _steps(run_id)["Review"]
    assert review["status"] == "Failed" and review["failure_reason"] == "mapping rejected"
    assert engine.describe_run(run_id)["status"] == "Failed"


@pytest.mark.timeout(120)
def test_visibility_timeout_hides_a_message_from_other_receivers_until_it_passes(sy, reaper):
    runner = _start(sy)
    reaper.watch(runner.pid)
    def take() -> dict[str, Any] | None:
        got = receive_messages(QUEUE, VisibilityTimeout=0.3)
        return got if "Messages" in got else None

    first = sy.wait_until(take, timeout=60, what="the message")
    assert len(first["Messages"]) == 1
    assert "Messages" not in receive_messages(QUEUE)          # within the timeout: nothing
    again = receive_messages(QUEUE, WaitTimeSeconds=5)       # after it: the same message
    assert again["Messages"][0]["MessageId"] == first["Messages"][0]["MessageId"]
    assert again["Messages"][0]["ReceiptHandle"] != first["Messages"][0]["ReceiptHandle"]
    with pytest.raises(UsageError, match="MaxNumberOfMessages"):
        receive_messages(QUEUE, MaxNumberOfMessages=11)
    send_pipeline_execution_step_failure(CallbackToken=first["Messages"][0]["MessageId"])
    runner.communicate(timeout=60)
