"""`stackyard schedules|rules` end to end through the real console script, junk included;
monitoring schedules from the SDK; drift events from a check."""

from __future__ import annotations

import json

import pytest

PIPELINE = """
from stackyard.workflow import Pipeline, ParameterString, step

@step(name="Note")
def note(v):
    with open(MARKS, "a") as f:
        f.write(v + "\\n")
    return v

v = ParameterString("V", default_value="none")
pipeline = Pipeline("note-it", parameters=[v], steps=[note(v)])
"""


def test_schedules_cli(sy, reaper) -> None:
    marks = sy.tmp / "marks.txt"
    sy.write("note.py", PIPELINE, MARKS=str(marks))
    made = sy.cli_json("schedules", "create", "nightly", "--pipeline", "note.py",
                       "--cron", "cron(0 2 * * ? *)", "--timezone", "Europe/Berlin",
                       "-p", "V=nightly", "--catchup", "none", "--overlap", "skip")
    assert made["expression"] == "cron(0 2 * * ? *)" and made["state"] == "ENABLED"
    assert made["next_fire"].endswith("+01:00") or made["next_fire"].endswith("+02:00")
    assert "02:00:00" in made["next_fire"]
    fast = sy.cli_json("schedules", "create", "fast", "--pipeline", "note.py",
                       "--rate", "5 seconds")
    assert fast["expression"] == "rate(5 seconds)"
    assert [r["name"] for r in sy.cli_json("schedules", "list")] == ["fast", "nightly"]
    assert sy.cli_json("schedules", "pause", "nightly")["state"] == "PAUSED"
    assert sy.cli_json("schedules", "resume", "nightly")["state"] == "ENABLED"
    fired = sy.cli_json("schedules", "trigger", "nightly")
    reaper.watch(sy.db_query("SELECT launcher_pid FROM fires WHERE id=?",
                             (fired["id"],))[0][0])
    sy.wait_until(lambda: sy.cli_json("schedules", "describe", "nightly")["fires"][0]["status"]
                  == "Succeeded", timeout=60, what="the triggered run")
    assert marks.read_text().splitlines() == ["nightly"]
    text = sy.cli("schedules", "describe", "nightly")
    assert text.returncode == 0 and "Succeeded" in text.stdout
    assert sy.cli("schedules", "delete", "fast").returncode == 0
    assert [r["name"] for r in sy.cli_json("schedules", "list")] == ["nightly"]


@pytest.mark.parametrize(("args", "says"), [
    (["x", "--pipeline", "note.py", "--cron", "61 * * * *"], "Bad minute"),
    (["x", "--pipeline", "note.py", "--cron", "cron(0 2 * * ? 2030)"], "year"),
    (["x", "--pipeline", "note.py", "--rate", "0 days"], "at least 1"),
    (["x", "--pipeline", "note.py", "--rate", "soon"], "rate"),
    (["x", "--pipeline", "missing.py", "--rate", "1 day"], "does not exist"),
    (["x", "--pipeline", "note.py", "--rate", "1 day", "-p", "Nope=1"], "no parameter"),
    (["x", "--pipeline", "note.py"], "--cron"),
    (["x", "--rate", "1 day"], "exactly one of --pipeline"),
    (["x", "--state-machine", "sm", "--rate", "1 day"], "no state machine 'sm'"),
    (["x", "--monitor", "ep", "--rate", "1 day"], "--baseline"),
    (["x", "--monitor", "ep", "--baseline", "g/1", "--rate", "1 day"], "no model package"),
    (["x", "--pipeline", "note.py", "--rate", "1 day", "--timezone", "Mars/Base"], "time zone"),
    (["x", "--pipeline", "note.py", "--rate", "1 day", "--start-at", "tomorrow"], "ISO 8601"),
    (["x", "--pipeline", "note.py", "--rate", "1 day", "--start-at", "2030-01-02",
      "--end-at", "2030-01-01"], "after --start-at"),
    (["../x", "--pipeline", "note.py", "--rate", "1 day"], "schedule name"),
])
def test_bad_schedules_exit_2_and_record_nothing(sy, args, says) -> None:
    sy.write("note.py", PIPELINE, MARKS=str(sy.tmp / "m"))
    r = sy.cli("schedules", "create", *args)
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert sy.cli_json("schedules", "list") == []


def test_rules_cli(sy) -> None:
    sy.write("note.py", PIPELINE, MARKS=str(sy.tmp / "m"))
    assert sy.cli("channels", "create", "ops", "--log").returncode == 0
    made = sy.cli_json("rules", "create", "drift", "--on", "drift-detected",
                       "--filter", '{"detail": {"violations": [{"numeric": [">", 0]}]}}',
                       "--then", "notify", "ops")
    assert made["does"] == "notify ops" and made["filter"]
    inbox = sy.tmp / "in box"
    inbox.mkdir()
    arrived = sy.cli_json("rules", "create", "arrivals", "--on", "file-arrived", "--watch",
                          str(inbox), "--then", "pipeline", "note.py", "--parameter", "V")
    from stackyard._checks import to_uri

    assert arrived["watch"] == to_uri(inbox)
    assert {r["name"] for r in sy.cli_json("rules", "list")} == {"drift", "arrivals"}
    assert sy.cli_json("rules", "describe", "drift")["fires"] == []
    for bad, says in (
            (["x", "--on", "run-failed", "--filter", "{nope", "--then", "notify", "ops"],
             "not valid JSON"),
            (["x", "--on", "run-failed", "--then", "notify", "nobody"], "no channel"),
            (["x", "--on", "lunchtime", "--then", "notify", "ops"], "--on 'lunchtime'"),
            (["x", "--on", "run-failed", "--then", "email", "ops"], "--then 'email'"),
            (["x", "--on", "run-failed", "--then", "state-machine", "sm"], "no state machine"),
            (["x", "--on", "file-arrived", "--then", "notify", "ops"], "--watch"),
            (["x", "--on", "file-arrived", "--watch", str(inbox), "--then", "pipeline",
              "note.py"], "--parameter"),
            (["x", "--on", "file-arrived", "--watch", str(sy.tmp / "nope"), "--then",
              "notify", "ops"], "no such folder"),
            (["drift", "--on", "run-failed", "--then", "notify", "ops"], "exists")):
        r = sy.cli("rules", "create", *bad)
        assert r.returncode == 2 and says in r.stderr, (bad, r.stderr)
    assert sy.cli("rules", "delete", "drift").returncode == 0
    assert sy.cli("rules", "delete", "drift").returncode == 2


def test_a_check_with_violations_writes_a_drift_event() -> None:
    from stackyard.store import open_store

    store = open_store()
    store.add_monitoring_run("m1", "DATA_QUALITY", "check", "endpoint:churn", "churn/1", 1, None)
    store.finish_monitoring_run("m1", "CompletedWithViolations", 2, {"report": "r"})
    store.add_monitoring_run("m2", "DATA_QUALITY", "check", "endpoint:churn", "churn/1", 1, None)
    store.finish_monitoring_run("m2", "Completed", 0, {"report": "r"})
    (event,) = store.events("drift.detected")
    assert event["payload"]["monitoring_run"] == "m1" and event["payload"]["violations"] == 2


def test_monitoring_schedule_from_the_sdk(sy, tmp_path) -> None:
    from stackyard import triggers
    from stackyard.monitor import (
        BatchTransformInput,
        CronExpressionGenerator,
        DatasetFormat,
        DefaultModelMonitor,
    )

    data = tmp_path / "data.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(50)))
    mon = DefaultModelMonitor(role="ignored", instance_type="ml.m5.xlarge")
    mon.suggest_baseline(str(data), DatasetFormat.csv(header=True))
    assert CronExpressionGenerator.daily_every_x_hours(6, 1) == "cron(0 1/6 ? * * *)"
    mon.create_monitoring_schedule(
        monitor_schedule_name="hourly-check",
        batch_transform_input=BatchTransformInput(
            data_captured_destination_s3_uri=str(data),
            dataset_format=DatasetFormat.csv(header=True)),
        schedule_cron_expression=CronExpressionGenerator.hourly())
    d = mon.describe_schedule()
    assert d["MonitoringScheduleStatus"] == "Scheduled"
    assert d["ScheduleExpression"] == "cron(0 * ? * * *)"
    row = triggers.describe_schedule("hourly-check")
    assert row["next_fire"] and row["overlap"] == "skip"
    from stackyard.monitor import run_scheduled

    result = run_scheduled(row["target"])  # what the launcher runs at each fire
    assert result["status"] == "Completed" and result["kind"] == "DATA_QUALITY"
    with pytest.raises(Exception, match="exactly one of endpoint_input"):
        mon.create_monitoring_schedule(monitor_schedule_name="x",
                                       schedule_cron_expression="cron(0 * ? * * *)")
    with pytest.raises(Exception, match="schedule_cron_expression"):
        mon.create_monitoring_schedule(monitor_schedule_name="y", endpoint_input="ep",
                                       schedule_cron_expression="every hour")
    mon.delete_monitoring_schedule()
    assert triggers.list_schedules() == []
    assert json.dumps(d)  # SageMaker-shaped answer is plain JSON


def test_a_schedule_starts_a_state_machine(sy, reaper) -> None:
    """`--state-machine NAME`: triggering the schedule runs one execution to its end with the
    fire's event as input, and the fire records the execution and its outcome."""
    sy.write("machine.json", json.dumps({
        "StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": "hi",
                                                 "ResultPath": "$.said", "End": True}}}))
    assert sy.cli("states", "create", "greeter", "--definition", "machine.json"
                  ).returncode == 0
    sy.cli_json("schedules", "create", "greet", "--state-machine", "greeter",
                "--rate", "1 day")
    fired = sy.cli_json("schedules", "trigger", "greet")
    reaper.watch(sy.db_query("SELECT launcher_pid FROM fires WHERE id=?",
                             (fired["id"],))[0][0])
    sy.wait_until(lambda: sy.cli_json("schedules", "describe", "greet")["fires"][0]["status"]
                  == "Succeeded", timeout=60, what="the triggered execution")
    executions = sy.cli_json("states", "executions", "greeter")
    assert len(executions) == 1 and executions[0]["status"] == "SUCCEEDED"
