"""Running pipelines end to end: data flow, step properties, failures and @step values."""

from __future__ import annotations

import json
import os
import pickle
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from stackyard import artifacts, engine
from stackyard.errors import IntegrityError, UsageError
from stackyard.jobs import (
    Estimator,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
)
from stackyard.workflow import (
    ExecutionVariables,
    FailStep,
    Join,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingStep,
    step,
)

PY = ScriptProcessor(command=["python3"])


def _out(name: str) -> ProcessingOutput:
    return ProcessingOutput(output_name=name, source=f"/opt/ml/processing/{name}")


def _read_output(execution, step_name: str, output: str, file: str) -> str:
    meta = {s["StepName"]: s for s in execution.list_steps()}[step_name]["Metadata"]
    uri = meta["ProcessingOutputConfig"]["Outputs"][output]["S3Output"]["S3Uri"]
    return (artifacts.uri_to_path(uri) / file).read_text()


# ---- module-level @step functions (importable by name, as a resumed run needs) -------
@step
def make_array(n):
    return np.arange(n, dtype=np.float64)


@step
def make_set():
    return {"b", "a", "c"}


@step
def total(arr, letters):
    return {"sum": float(np.sum(arr)), "letters": sorted(letters), "type": type(arr).__name__}


@step
def nested():
    return {"a": [10, 20, 30], "b": {"c": "deep"}}


@step
def pick(x, y):
    return [x, y]


@step
def read_uri(uri):
    return (artifacts.uri_to_path(uri) / "data.txt").read_text()


@step
def boom():
    raise ValueError("boom-123")


def test_processing_chain_data_flows_through_outputs(sy):
    sy.write("data/in.txt", "hello")
    first = sy.write("code/first.py", """
        import pathlib
        text = pathlib.Path("/opt/ml/processing/input/in.txt").read_text()
        pathlib.Path("/opt/ml/processing/mid/data.txt").write_text(text + " world")
    """)
    second = sy.write("code/second.py", """
        import pathlib
        text = pathlib.Path("/opt/ml/processing/input/data.txt").read_text()
        pathlib.Path("/opt/ml/processing/final/data.txt").write_text(text.upper())
    """)
    a = ProcessingStep("First", processor=PY, code=str(first), outputs=[_out("mid")], inputs=[
        ProcessingInput(source=str(sy.work / "data"), destination="/opt/ml/processing/input")])
    b = ProcessingStep("Second", processor=PY, code=str(second), outputs=[_out("final")],
                       inputs=[ProcessingInput(
                           source=a.properties.ProcessingOutputConfig.Outputs["mid"].S3Output.S3Uri,
                           destination="/opt/ml/processing/input")])
    c = read_uri(b.properties.ProcessingOutputConfig.Outputs["final"].S3Output.S3Uri)
    ex = Pipeline("chain", steps=[c]).start()
    assert ex.wait() == "Succeeded"
    assert _read_output(ex, "Second", "final", "data.txt") == "HELLO WORLD"
    assert ex.result("read_uri") == "HELLO WORLD"
    steps = ex.list_steps()
    assert [s["StepName"] for s in steps] == ["read_uri", "Second", "First"]  # newest first
    for s in steps:
        assert s["StepStatus"] == "Succeeded"
        assert s["AttemptCount"] == 1
        assert s["FailureReason"] is None
        assert s["CacheHitResult"] is None
    meta = steps[1]["Metadata"]
    assert meta["ProcessingJobStatus"] == "Completed"
    assert meta["ProcessingJobName"].startswith("Second-")
    assert steps[0]["Metadata"] == {"Result": "HELLO WORLD"}
    d = ex.describe()
    assert d["PipelineExecutionStatus"] == "Succeeded"
    assert d["failure_reason"] is None and d["FailureReason"] is None
    assert d["PipelineExecutionArn"].endswith(ex.run_id)


def test_describe_run_has_the_documented_fields(sy):
    code = sy.write("code/a.py", "print('hi')\n")
    n = ParameterInteger("N", default_value=1)
    ex = Pipeline("fields", parameters=[n], steps=[ProcessingStep(
        "A", processor=PY, code=str(code), job_arguments=[n.to_string()])]).start({"N": 5})
    assert ex.wait() == "Succeeded"
    d = engine.describe_run(ex.run_id)
    assert {"run_id", "pipeline", "status", "parameters", "start_time", "end_time",
            "failure_reason", "steps"} <= set(d)
    assert d["run_id"] == ex.run_id and d["pipeline"] == "fields"
    assert d["parameters"] == {"N": 5}
    assert d["start_time"] <= d["end_time"]
    (s,) = d["steps"]
    assert set(s) >= {"name", "status", "attempts", "cache_hit", "start_time", "end_time",
                      "outputs", "failure_reason"}
    assert s["name"] == "A" and s["status"] == "Succeeded" and s["attempts"] == 1
    assert s["cache_hit"] is False
    assert d["start_time"] <= s["start_time"] <= s["end_time"] <= d["end_time"]
    runs = engine.list_runs()
    assert [r["run_id"] for r in runs] == [ex.run_id]
    assert runs[0]["status"] == "Succeeded"


def test_join_execution_variables_and_parameters_in_job_arguments(sy):
    code = sy.write("code/args.py", """
        import json, os, sys
        os.makedirs("/opt/ml/processing/out", exist_ok=True)
        json.dump(sys.argv[1:], open("/opt/ml/processing/out/argv.json", "w"))
    """)
    n = ParameterInteger("N", default_value=3)
    rate = ParameterFloat("Rate", default_value=0.5)
    flag = ParameterBoolean("Flag", default_value=True)
    label = ParameterString("Label", default_value="x")
    s = ProcessingStep("Args", processor=PY, code=str(code), outputs=[_out("out")],
                       job_arguments=[
                           "--run", Join(on="-", values=[
                               "run", ExecutionVariables.PIPELINE_EXECUTION_ID]),
                           "--name", ExecutionVariables.PIPELINE_NAME,
                           "--mix", Join(on="/", values=[n, rate, flag, label, 7]),
                           "--n", n.to_string()])
    ex = Pipeline("joins", parameters=[n, rate, flag, label], steps=[s]).start(
        {"N": 4, "Flag": False, "Label": "lbl"})
    assert ex.wait() == "Succeeded"
    argv = json.loads(_read_output(ex, "Args", "out", "argv.json"))
    assert argv == ["--run", f"run-{ex.run_id}", "--name", "joins",
                    "--mix", "4/0.5/false/lbl/7", "--n", "4"]


def test_a_script_that_raises_fails_with_its_traceback(sy):
    code = sy.write("code/bad.py", """
        def helper():
            raise ValueError("the answer is not 41")
        print("about to fail")
        helper()
    """)
    ex = Pipeline("raises", steps=[ProcessingStep("Bad", processor=PY, code=str(code))]).start()
    assert ex.wait() == "Failed"
    (s,) = ex.list_steps()
    reason = s["FailureReason"]
    assert s["StepStatus"] == "Failed"
    assert "exited with code 1" in reason
    assert "Traceback (most recent call last)" in reason
    assert "in helper" in reason
    assert "ValueError: the answer is not 41" in reason
    assert "about to fail" in reason
    run_reason = ex.describe()["failure_reason"]
    assert "'Bad'" in run_reason and "ValueError: the answer is not 41" in run_reason


def test_steps_after_a_failure_do_not_start(sy):
    bad = sy.write("code/bad.py", "raise SystemExit(1)\n")
    good = sy.write("code/good.py", "open(MARK, 'w').write('ran')\n", MARK=str(sy.tmp / "mark"))
    a = ProcessingStep("A", processor=PY, code=str(bad))
    b = ProcessingStep("B", processor=PY, code=str(good), depends_on=[a])
    ex = Pipeline("stops", steps=[a, b]).start()
    assert ex.wait() == "Failed"
    statuses = {s["StepName"]: s["StepStatus"] for s in ex.list_steps()}
    assert statuses["A"] == "Failed"
    assert statuses.get("B") in (None, "Skipped", "Stopped")
    assert not (sy.tmp / "mark").exists()


def test_fail_step_with_a_join_message(sy):
    score = ParameterFloat("Score", default_value=0.25)
    fail = FailStep("TooLow", error_message=Join(
        on=" ", values=["score", score, "below target in",
                        ExecutionVariables.PIPELINE_EXECUTION_ID]))
    ex = Pipeline("fails", parameters=[score], steps=[fail]).start()
    assert ex.wait() == "Failed"
    expected = f"score 0.25 below target in {ex.run_id}"
    assert ex.describe()["failure_reason"] == expected
    (s,) = ex.list_steps()
    assert s["StepName"] == "TooLow" and s["StepStatus"] == "Failed"
    assert s["FailureReason"] == expected


def test_step_non_json_values_are_passed_to_later_steps(sy):
    arr = make_array(5)
    letters = make_set()
    out = total(arr, letters)
    ex = Pipeline("values", steps=[out]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert ex.result("total") == {"sum": 10.0, "letters": ["a", "b", "c"], "type": "ndarray"}
    got = ex.result("make_array")
    assert isinstance(got, np.ndarray) and got.tolist() == [0, 1, 2, 3, 4]
    assert ex.result("make_set") == {"a", "b", "c"}
    meta = {s["StepName"]: s["Metadata"] for s in ex.list_steps()}
    # non-JSON values live in the content-addressed store; JSON values inline
    assert set(meta["make_array"]) == {"ResultUri"} and set(meta["make_set"]) == {"ResultUri"}
    assert "/artifacts/objects/" in meta["make_array"]["ResultUri"]
    assert meta["total"] == {"Result": ex.result("total")}


def test_step_results_can_be_indexed(sy):
    v = nested()
    out = pick(v["a"][1], v["b"]["c"])
    ex = Pipeline("index", steps=[out]).start()
    assert ex.wait() == "Succeeded"
    assert ex.result("pick") == [20, "deep"]


def test_a_tampered_pickled_result_is_refused(sy):
    ex = Pipeline("tamper", steps=[make_set()]).start()
    assert ex.wait() == "Succeeded"
    uri = ex.list_steps()[0]["Metadata"]["ResultUri"]
    path = artifacts.uri_to_path(uri)
    assert not os.stat(path).st_mode & 0o222  # stored read-only
    os.chmod(path, 0o644)
    path.write_bytes(pickle.dumps({"evil"}))
    with pytest.raises(IntegrityError):
        ex.result("make_set")


def test_a_raising_step_function_fails_with_its_exception(sy):
    ex = Pipeline("boom", steps=[boom()]).start()
    assert ex.wait() == "Failed"
    reason = ex.list_steps()[0]["FailureReason"]
    assert reason.startswith("ValueError: boom-123")
    assert "raise ValueError" in reason  # the traceback is included
    with pytest.raises(UsageError, match="Failed"):
        ex.result("boom")


def test_the_engine_runs_from_the_definition_json_alone(sy):
    """A pipeline rebuilt from its JSON (no live function objects) still runs its @step
    functions, which the engine imports by module and name."""
    sy.write("data/data.txt", "from json")
    out = read_uri(f"file://{sy.work / 'data'}")
    p = Pipeline("fromjson", steps=[out])
    again = Pipeline.from_definition(p.definition())
    assert again.functions() == {}
    ex = again.start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert ex.result("read_uri") == "from json"


def test_standalone_processor_run_and_estimator_fit(sy):
    code = sy.write("code/p.py", """
        import pathlib
        pathlib.Path("/opt/ml/processing/out/x.txt").write_text("standalone")
    """)
    job = ScriptProcessor(command=["python3"]).run(code=str(code), outputs=[_out("out")])
    uri = job["outputs"]["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"]["S3Uri"]
    assert (artifacts.uri_to_path(uri) / "x.txt").read_text() == "standalone"
    sy.write("t/train.py", """
        import os, pathlib
        pathlib.Path(os.environ["SM_MODEL_DIR"], "m.txt").write_text("model")
    """)
    est = Estimator(entry_point="train.py", source_dir=str(sy.work / "t"))
    est.fit()
    assert est.model_data is not None and est.model_data.endswith("model.tar.gz")
    assert artifacts.uri_to_path(est.model_data).is_file()
    bad = sy.write("code/bad.py", "raise SystemExit(3)\n")
    with pytest.raises(Exception, match="code 3"):
        ScriptProcessor(command=["python3"]).run(code=str(bad))
    # each standalone job is an inspectable one-step run
    assert len(engine.list_runs()) == 3


def test_step_logs_lists_every_attempt(sy):
    code = sy.write("code/hello.py", "print('hello from the job')\n")
    ex = Pipeline("logs", steps=[ProcessingStep("Hello", processor=PY, code=str(code))]).start()
    assert ex.wait() == "Succeeded"
    ((name, attempt, path),) = engine.step_logs(ex.run_id)
    assert (name, attempt) == ("Hello", 1)
    assert "hello from the job" in Path(path).read_text()
    assert engine.step_logs(ex.run_id, "Hello")[0][2] == path
    with pytest.raises(UsageError):
        engine.step_logs(ex.run_id, "Nope")
    with pytest.raises(UsageError):
        engine.describe_run("no-such-run")


def test_interpreter_is_this_python(sy):
    code = sy.write("code/exe.py", """
        import pathlib, sys
        pathlib.Path("/opt/ml/processing/out/exe").write_text(sys.executable)
    """)
    ex = Pipeline("exe", steps=[ProcessingStep("E", processor=PY, code=str(code),
                                               outputs=[_out("out")])]).start()
    assert ex.wait() == "Succeeded"
    assert _read_output(ex, "E", "out", "exe") == sys.executable


def test_step_names_with_spaces_and_dots(sy):
    """A step name may contain dots and spaces; references take the longest known name."""
    first = sy.write("code/one.py", """
        import pathlib
        pathlib.Path("/opt/ml/processing/out/data.txt").write_text("short")
    """)
    second = sy.write("code/two.py", """
        import pathlib
        pathlib.Path("/opt/ml/processing/out/data.txt").write_text("dotted")
    """)
    a = ProcessingStep("prep", processor=PY, code=str(first), outputs=[_out("out")])
    b = ProcessingStep("prep.v2 final", processor=PY, code=str(second), outputs=[_out("out")])
    got = read_uri(b.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri)
    ex = Pipeline("names", steps=[a, got]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert ex.result("read_uri") == "dotted"
    names = {s["StepName"] for s in ex.list_steps()}
    assert names == {"prep", "prep.v2 final", "read_uri"}
    assert (sy.home / "runs" / ex.run_id / "jobs" / "prep.v2 final" / "attempt-1").is_dir()


@step
def stamp(start, name, arn, pipeline_arn):
    return [start, name, arn, pipeline_arn]


def test_execution_variables_resolve(sy):
    ex = Pipeline("stamps", steps=[stamp(
        ExecutionVariables.START_DATETIME, ExecutionVariables.PIPELINE_NAME,
        ExecutionVariables.PIPELINE_EXECUTION_ARN, ExecutionVariables.PIPELINE_ARN)]).start()
    assert ex.wait() == "Succeeded"
    start, name, arn, pipeline_arn = ex.result("stamp")
    import re

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", start)
    assert name == "stamps"
    assert arn == ex.arn and arn.endswith(ex.run_id)
    assert pipeline_arn.endswith("stamps")


def test_an_execution_parallelism_override_is_not_a_new_pipeline_version(sy):
    """Regression: start(parallelism_config=...) used to record a new pipeline version."""
    from stackyard.workflow import ParallelismConfiguration

    p = Pipeline("overrides", steps=[nested()])
    assert p.start().wait() == "Succeeded"
    assert p.start(parallelism_config=ParallelismConfiguration(1)).wait() == "Succeeded"
    assert p.start().wait() == "Succeeded"
    assert [v["version"] for v in engine.describe_pipeline("overrides")["versions"]] == [1]


GATE = threading.Event()


@step(name="Blocked")
def blocked():
    GATE.wait(30)
    return "released"


def test_wait_timeout_is_honoured(sy):
    """Regression: wait(timeout=T) used to block about 2*T."""
    import time

    GATE.clear()
    ex = Pipeline("blocked", steps=[blocked()]).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            ex.wait(timeout=0.6)
        took = time.monotonic() - t0
    finally:
        GATE.set()
        assert ex.wait(timeout=10) == "Succeeded"
    assert took < 1.0, f"wait(timeout=0.6) took {took:.2f}s"
