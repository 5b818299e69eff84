"""Distributed Map over a local folder: ItemReader (listObjectsV2, getObject CSV/JSON/
JSONL), ItemBatcher, each item a child execution, ResultWriter files in AWS's shapes,
ToleratedFailure*, and validation of the distributed fields."""

from __future__ import annotations

import json

import pytest
from states_helpers import output, types

from stackyard.states import (
    DefinitionError,
    StateMachine,
    describe_execution,
    list_executions,
)

DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def _map(reader: dict | None = None, processor: dict | None = None, **extra) -> dict:
    state = {"Type": "Map", "ItemProcessor": {"ProcessorConfig": DISTRIBUTED, **(
        processor or {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})},
        "End": True, **extra}
    if reader is not None:
        state["ItemReader"] = reader
    return {"StartAt": "Each", "States": {"Each": state}}


def _checker() -> dict:
    """Fails the item whose ``fail`` is "yes"; else returns its name upper-cased."""
    return {"StartAt": "Bad?", "States": {
        "Bad?": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "StringEquals": "yes",
                                                "Next": "Boom"}], "Default": "Ok"},
        "Boom": {"Type": "Fail", "Error": "Item.Bad", "Cause": "asked to fail"},
        "Ok": {"Type": "Pass", "Parameters": {"name.$": "States.Format('<{}>', $.name)"},
               "End": True}}}


def test_list_objects_children_and_result_writer(sy):
    bucket = sy.work / "my bucket ü"
    sy.write("my bucket ü/in/a.txt", "aaa")
    sy.write("my bucket ü/in/sub/b.txt", "bb")
    sy.write("my bucket ü/other/c.txt", "c")
    d = _map({"Resource": "arn:aws:states:::s3:listObjectsV2",
              "Parameters": {"Bucket.$": "$.bucket", "Prefix": "in/"}},
             {"StartAt": "Size", "States": {"Size": {
                 "Type": "Pass", "Parameters": {"key.$": "$.Key", "size.$": "$.Size",
                                                "exec.$": "$$.Execution.Id"},
                 "End": True}}},
             ItemSelector={"Key.$": "$$.Map.Item.Value.Key", "Size.$": "$$.Map.Item.Value.Size"},
             ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                           "Parameters": {"Bucket": bucket.as_uri(), "Prefix": "results"}})
    e = StateMachine.create("listing", d).start_execution({"bucket": bucket.as_uri()})
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    out = output(desc)
    assert out["MapRunArn"].startswith("arn:aws:states:local:000000000000:mapRun:listing/Each:")
    key = out["ResultWriterDetails"]["Key"]
    assert key.startswith("results/") and key.endswith("/manifest.json")
    manifest = json.loads((bucket / key).read_text())
    assert manifest["MapRunArn"] == out["MapRunArn"]
    assert manifest["ResultFiles"]["FAILED"] == [] and manifest["ResultFiles"]["PENDING"] == []
    [done] = manifest["ResultFiles"]["SUCCEEDED"]
    rows = json.loads((bucket / done["Key"]).read_text())
    assert done["Size"] == (bucket / done["Key"]).stat().st_size
    assert [json.loads(r["Output"])["key"] for r in rows] == ["in/a.txt", "in/sub/b.txt"]
    assert [json.loads(r["Output"])["size"] for r in rows] == [3, 2]
    assert all(r["Status"] == "SUCCEEDED" and r["StateMachineArn"].endswith(
        ":stateMachine:listing/Each") for r in rows)
    child = rows[0]["ExecutionArn"]
    assert json.loads(rows[0]["Output"])["exec"] == child       # each item: an execution
    assert describe_execution(child)["parentExecutionArn"] == e.arn
    assert len(list_executions("listing")) == 1                  # children are not listed
    history = types(e.history())
    assert history.count("MapRunStarted") == 1 and history.count("MapRunSucceeded") == 1


def test_get_object_csv_with_item_batcher(sy):
    bucket = sy.work / "b"
    sy.write("b/rows.csv", "name,fail\nann,no\nbob,no\n\"c, d\",no\n")
    d = _map({"Resource": "arn:aws:states:::s3:getObject",
              "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
              "Parameters": {"Bucket": str(bucket), "Key": "rows.csv"}},
             {"StartAt": "Count", "States": {"Count": {
                 "Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)",
                                                "first.$": "$.Items[0].name",
                                                "run.$": "$.BatchInput.run"},
                 "End": True}}},
             ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"run.$": "$.run"}})
    desc = StateMachine.create("csv", d).start_execution({"run": "r1"}).describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    assert output(desc) == [{"n": 2, "first": "ann", "run": "r1"},
                            {"n": 1, "first": "c, d", "run": "r1"}]


def test_json_lines_with_tolerated_failures_writes_failed_results(sy):
    bucket = sy.work / "b"
    lines = [{"name": "a", "fail": "no"}, {"name": "b", "fail": "yes"},
             {"name": "c", "fail": "no"}]
    sy.write("b/items.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    sy.write("b/items.json", json.dumps(lines))
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket": str(bucket / "out")}}
    reader = {"Resource": "arn:aws:states:::s3:getObject",
              "ReaderConfig": {"InputType": "JSONL"},
              "Parameters": {"Bucket": str(bucket), "Key": "items.jsonl"}}
    d = _map(reader, _checker(), ToleratedFailureCount=1, MaxConcurrency=1,
             ResultWriter=writer)
    desc = StateMachine.create("tolerant", d).start_execution({}).describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    manifest = json.loads((bucket / "out" / output(desc)["ResultWriterDetails"]["Key"])
                          .read_text())
    [failed] = manifest["ResultFiles"]["FAILED"]
    [row] = json.loads((bucket / "out" / failed["Key"]).read_text())
    assert (row["Status"], row["Error"], row["Cause"]) == ("FAILED", "Item.Bad", "asked to fail")
    assert json.loads(row["Input"]) == lines[1]

    strict = {**reader, "ReaderConfig": {"InputType": "JSON"},
              "Parameters": {"Bucket": str(bucket), "Key": "items.json"}}
    desc = StateMachine.create("strict", _map(strict, _checker())).start_execution(
        {}).describe()
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.ExceedToleratedFailureThreshold"
    assert desc["cause"] == "The specified tolerated failure threshold was exceeded"


def test_reader_failures_are_item_reader_failed(sy):
    for bucket, key in (("relative/folder", "x.json"), (str(sy.work), "../escape.json"),
                        (str(sy.work), "missing.json")):
        d = _map({"Resource": "arn:aws:states:::s3:getObject",
                  "ReaderConfig": {"InputType": "JSON"},
                  "Parameters": {"Bucket": bucket, "Key": key}})
        desc = StateMachine.create("broken", d).start_execution({}).describe()
        assert desc["error"] == "States.ItemReaderFailed", (bucket, key, desc)
    assert "absolute path or a file:// URI" in StateMachine.create(
        "rel", _map({"Resource": "arn:aws:states:::s3:listObjectsV2",
                     "Parameters": {"Bucket": "data"}})).start_execution({}).describe()["cause"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["ItemProcessor"].pop("ProcessorConfig"), "needs ProcessorConfig.Mode"),
    (lambda s: s["ItemReader"].update(Resource="arn:aws:states:::s3:listBuckets"),
     "ItemReader's Resource"),
    (lambda s: s["ItemReader"].update(Resource="arn:aws:states:::s3:getObject",
                                      ReaderConfig={"InputType": "MANIFEST"}), "MANIFEST"),
    (lambda s: s.update(ResultWriter={"Resource": "arn:aws:states:::s3:getObject"}),
     "ResultWriter's Resource"),
])
def test_validation_of_distributed_fields(change, message):
    d = _map({"Resource": "arn:aws:states:::s3:listObjectsV2",
              "Parameters": {"Bucket": "/tmp"}})
    change(d["States"]["Each"])
    with pytest.raises(DefinitionError, match=message):
        StateMachine.create("bad", d)


@pytest.mark.slow
def test_kill_9_during_a_distributed_map_then_resume_runs_each_item_once(sy, reaper):
    import os
    import signal

    from states_helpers import APPEND, lambda_arn, register

    from stackyard.states._executor import execution_arn, execution_dir
    from stackyard.store import open_store

    register(sy.work / "fn", "append", APPEND)
    log = sy.work / "log é.txt"
    sy.write("items/steps.jsonl", "".join(
        json.dumps({"step": f"M{i}", "log": str(log), "sleep": 0.5}) + "\n" for i in range(6)))
    d = _map({"Resource": "arn:aws:states:::s3:getObject",
              "ReaderConfig": {"InputType": "JSONL"},
              "Parameters": {"Bucket": str(sy.work / "items"), "Key": "steps.jsonl"}},
             {"StartAt": "Call", "States": {"Call": {
                 "Type": "Task", "Resource": lambda_arn("append"), "End": True}}},
             MaxConcurrency=2)
    StateMachine.create("dmap", d)
    arn = execution_arn("dmap", "k")
    proc = sy.cli_popen("states", "start", "dmap", "--name", "k", "--wait")
    sy.wait_until(lambda: len(sy.lines(log)) >= 2, what="two items to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    children = [r["arn"] for r in open_store().list_executions(None, None, 100)
                if r["parent"] == arn]
    assert len(children) == 6
    for child in children:
        for pidfile in (execution_dir(child) / "tasks").glob("**/launcher.pid"):
            reaper.watch(int(pidfile.read_text().split()[0]))
    r = sy.cli("states", "resume", arn)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(sy.lines(log)) == [f"M{i}" for i in range(6)]   # none twice
    assert [x["step"] for x in output(describe_execution(arn))] == [f"M{i}" for i in range(6)]
