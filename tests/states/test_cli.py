"""``stackyard states ...``: exit 0 when the execution succeeded, 1 when it failed, 2 for
bad input (one line on stderr, nothing written)."""

from __future__ import annotations

import json

from states_helpers import TOKEN, register

PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"ok": True},
                                         "End": True}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "why"}}}


def _count(sy, table: str) -> int:
    db = sy.home / "stackyard.db"
    return sy.db_query(f"SELECT COUNT(*) FROM {table}")[0][0] if db.exists() else 0


def test_create_start_describe_history_exit_codes(sy):
    ok = sy.work / "ok.json"
    ok.write_text(json.dumps(PASS))
    bad = sy.work / "bad.json"
    bad.write_text(json.dumps(FAIL))
    created = sy.cli_json("states", "create", "hello", "--definition", str(ok))
    assert created["stateMachineArn"].endswith(":stateMachine:hello")
    r = sy.cli("states", "start", "hello", "--input", '{"a": 1}', "--name", "one", "--wait",
               "--json")
    assert r.returncode == 0, r.stderr
    desc = json.loads(r.stdout)
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"ok": True}
    assert sy.cli("states", "update", "hello", "--definition", str(bad)).returncode == 0
    r = sy.cli("states", "start", "hello", "--name", "two", "--wait", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"] == "Nope"
    assert sy.cli("states", "describe", "hello:two").returncode == 1
    assert sy.cli("states", "describe", "hello:one").returncode == 0
    events = sy.cli_json("states", "history", "hello:one")["events"]
    assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered",
                                           "PassStateExited", "ExecutionSucceeded"]
    assert {"id", "previousEventId", "timestamp", "type"} <= set(events[1])
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"a": 1}
    listed = sy.cli_json("states", "executions", "hello")
    assert [x["name"] for x in listed] == ["two", "one"]
    assert [m["name"] for m in sy.cli_json("states", "list")] == ["hello"]
    r = sy.cli("states", "run", str(ok), "--input", "@" + str(ok), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "SUCCEEDED"


def test_bad_input_exits_2_with_one_line_and_writes_nothing(sy):
    junk = sy.work / "junk.json"
    junk.write_text('{"StartAt": "A", "States": {')
    unknown = sy.work / "unknown.json"
    unknown.write_text(json.dumps({"StartAt": "A", "States": {"A": {
        "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync", "End": True}}}))
    unreachable = sy.work / "unreachable.json"
    unreachable.write_text(json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": True}, "B": {"Type": "Pass", "End": True}}}))
    for args, needle in (
            (("create", "m", "--definition", str(junk)), "Invalid State Machine Definition"),
            (("create", "m", "--definition", str(unknown)), "batch:submitJob.sync"),
            (("create", "m", "--definition", str(unreachable)), "'B'"),
            (("create", "bad name!", "--definition", str(junk)), "state machine name"),
            (("create", "m", "--definition", str(sy.work / "missing.json")), "cannot read"),
            (("start", "nobody", "--wait"), "no state machine 'nobody'"),
            (("describe", "not-an-arn"), "MACHINE:NAME"),
            (("send-task-success", "nope", "--output", "{}"), "TaskDoesNotExist"),
            (("send-task-failure", "nope"), "TaskDoesNotExist")):
        r = sy.cli("states", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    assert _count(sy, "state_machines") == 0 and _count(sy, "executions") == 0


def test_bad_execution_input_and_input_over_256_kib_exit_2(sy):
    ok = sy.work / "ok.json"
    ok.write_text(json.dumps(PASS))
    sy.cli_json("states", "create", "m", "--definition", str(ok))
    big = sy.work / "big.json"
    big.write_text(json.dumps({"x": "y" * (256 * 1024)}))
    for value, needle in (("{not json", "not valid JSON"), ("@" + str(big), "DataLimitExceeded"),
                          ("@" + str(sy.work / "nope.json"), "cannot read"),
                          # Python's json reads these; AWS (and the stored text's readers)
                          # refuse them: they were stored as the input `{"a":NaN}`
                          ('{"a": NaN}', "InvalidExecutionInput"),
                          ("[1e999]", "InvalidExecutionInput")):
        r = sy.cli("states", "start", "m", "--input", value, "--wait")
        assert r.returncode == 2 and needle in r.stderr, (value, r.stderr)
    assert _count(sy, "executions") == 0


def test_task_token_answered_from_the_cli(sy):
    register(sy.work / "fn", "tok", TOKEN)
    definition = sy.work / "tok.json"
    definition.write_text(json.dumps({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "tok", "Payload": {
            "token.$": "$$.Task.Token", "token_file": str(sy.work / "token")}},
        "End": True}}}))
    sy.cli_json("states", "create", "tok", "--definition", str(definition))
    proc = sy.cli_popen("states", "start", "tok", "--name", "t", "--wait", "--json")
    token = sy.wait_until(lambda: (sy.work / "token").exists()
                          and (sy.work / "token").read_text(), what="the token")
    assert sy.cli("states", "send-task-heartbeat", token).returncode == 0
    assert sy.cli("states", "send-task-success", token, "--output", "{bad").returncode == 2
    nan = sy.cli("states", "send-task-success", token, "--output", '{"answer": NaN}')
    assert nan.returncode == 2 and "InvalidOutput" in nan.stderr, nan.stderr
    r = sy.cli("states", "send-task-success", token, "--output", '{"answer": 42}')
    assert r.returncode == 0, r.stderr
    again = sy.cli("states", "send-task-success", token, "--output", "{}")
    assert again.returncode == 2 and "no longer waiting" in again.stderr
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert json.loads(json.loads(out)["output"]) == {"answer": 42}


def test_json_nested_too_deeply_is_one_line_exit_2(sy, capsys):
    """json's decoder raised RecursionError: an internal error (exit 1), not a usage error."""
    from stackyard.cli import run_cli

    deep = "[" * 5000 + "]" * 5000
    machine = sy.work / "deep ü.json"
    machine.write_text('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": '
                       + deep + ', "End": true}}}')
    for argv, needle in ((["states", "start", "nosuch", "--input", deep], "--input"),
                         (["states", "send-task-success", "t" * 64, "--output", deep],
                          "--output"),
                         (["states", "create", "m", "--definition", str(machine)],
                          "nested too deeply")):
        assert run_cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1, err
    assert _count(sy, "state_machines") == 0
