"""``LambdaStep``: a local ``handler(event, context)`` in a job subprocess of its own; its
returned dict feeds later steps through ``properties.Outputs[...]``, typed by each
output's ``output_type``."""

from __future__ import annotations

from typing import Any

import pytest

from stackyard import engine
from stackyard.errors import DefinitionError
from stackyard.workflow import (
    FailStep,
    Join,
    Lambda,
    LambdaOutput,
    LambdaOutputTypeEnum,
    LambdaStep,
    ParameterString,
    Pipeline,
)

HANDLER = """
import os

def handler(event, context):
    kind = event["kind"]
    if kind == "raise":
        raise ValueError("no model for " + event["group"])
    if kind == "missing":
        return {"other": 1}
    if kind == "list":
        return [1, 2]
    if kind == "exit":
        raise SystemExit(3)
    if kind == "nan":
        return {"count": float("nan")}
    if kind == "badtype":
        return {"count": "many", "ratio": 1, "ok": True, "name": "x"}
    return {"count": "3", "ratio": 2, "ok": "true", "name": 5,
            "request": context.aws_request_id, "left": context.get_remaining_time_in_millis()}
"""
OUTPUTS = [LambdaOutput("count", LambdaOutputTypeEnum.Integer),
           LambdaOutput("ratio", LambdaOutputTypeEnum.Float),
           LambdaOutput("ok", LambdaOutputTypeEnum.Boolean),
           LambdaOutput("name")]


def _run(sy, kind: str, after: Any = None) -> tuple[str, dict[str, Any]]:
    script = sy.write("fns dir é/get_model.py", HANDLER)
    step = LambdaStep("GetModel", Lambda(function_name="get-model", script=str(script),
                                         handler="get_model.handler", timeout=60),
                      inputs={"kind": ParameterString("Kind"), "group": "churn"},
                      outputs=OUTPUTS)
    steps = [step] + ([after(step)] if after else [])
    execution = Pipeline("lambda-test", parameters=[ParameterString("Kind")],
                         steps=steps).start(parameters={"Kind": kind})
    execution.wait()
    run = engine.describe_run(execution.run_id)
    return run["status"], {s["name"]: s for s in run["steps"]}


def test_outputs_are_typed_by_output_type_and_feed_a_later_step(sy):
    status, steps = _run(sy, "ok", lambda s: FailStep("Show", error_message=Join(
        on="|", values=[s.properties.Outputs["count"], s.properties.Outputs["ratio"],
                        s.properties.Outputs["ok"], s.properties.Outputs["name"]])))
    out = steps["GetModel"]["outputs"]["OutputParameters"]
    assert out == {"count": 3, "ratio": 2.0, "ok": True, "name": "5"}
    assert type(out["count"]) is int and type(out["ratio"]) is float
    assert status == "Failed"   # the FailStep: its message shows what it read
    assert steps["Show"]["failure_reason"] == "3|2.0|true|5"


def test_a_missing_output_key_fails_the_step_naming_it(sy):
    status, steps = _run(sy, "missing")
    assert status == "Failed"
    reason = steps["GetModel"]["failure_reason"]
    assert "returned no 'count', 'name', 'ok', 'ratio'" in reason and "'other'" in reason


def test_a_value_of_the_wrong_type_fails_the_step_naming_the_output(sy):
    status, steps = _run(sy, "badtype")
    assert status == "Failed"
    assert "output 'count' is declared Integer but the function returned 'many'" in steps[
        "GetModel"]["failure_reason"]


def test_an_exception_fails_the_step_with_its_message(sy):
    status, steps = _run(sy, "raise")
    assert status == "Failed"
    assert "raised ValueError: no model for churn" in steps["GetModel"]["failure_reason"]


@pytest.mark.parametrize(("kind", "message"), [
    ("list", "must return a dict of JSON values (outputs by name); it returned list [1, 2]"),
    ("nan", "must return a dict of JSON values (outputs by name); Out of range float"),
    ("exit", "get_model.handler called sys.exit(3) instead of returning a dict"),
])
def test_a_response_that_is_not_a_dict_of_json_values_fails_saying_so(sy, kind, message):
    status, steps = _run(sy, kind)
    assert status == "Failed" and message in steps["GetModel"]["failure_reason"]


def test_bad_functions_and_outputs_are_refused_when_defined(sy):
    script = sy.write("fn.py", HANDLER)
    with pytest.raises(DefinitionError, match="'fn.<function>'"):
        Lambda(function_name="f", script=str(script), handler="other.handler")
    with pytest.raises(DefinitionError, match="does not exist"):
        Lambda(function_name="f", script=str(sy.work / "nope.py"), handler="nope.handler")
    with pytest.raises(DefinitionError, match="zipped_code_dir"):
        Lambda(function_name="f", zipped_code_dir="code.zip", handler="fn.handler")
    with pytest.raises(DefinitionError, match="output_type"):
        LambdaOutput("x", "Decimal")
    for shadow in ("json", "stackyard"):  # the invoker's own imports: it broke before
        with pytest.raises(DefinitionError, match=f"{shadow}.py' has the name of Python"):
            Lambda(function_name="f", script=str(sy.write(f"{shadow}.py", HANDLER)),
                   handler=f"{shadow}.handler")
    fn = Lambda(function_name="f", script=str(script), handler="fn.handler")
    with pytest.raises(DefinitionError, match="declared twice"):
        LambdaStep("L", fn, outputs=[LambdaOutput("a"), LambdaOutput("a")])
    with pytest.raises(KeyError):
        LambdaStep("L", fn, outputs=[LambdaOutput("a")]).properties.Outputs["b"]
    sy.assert_nothing_written()


REGISTRY_HANDLER = """
from stackyard.registry import ModelRegistry

def handler(event, context):
    pkg = ModelRegistry().latest(event["group"])
    baselines = pkg.record["drift_check_baselines"]["ModelDataQuality"]
    return {"ModelPackageRef": pkg.ref,
            "ModelName": pkg.record["customer_metadata_properties"]["ModelName"],
            "BaselineStatistics": baselines["Statistics"]["uri"]}
"""


def test_a_handler_reads_the_registry_of_the_pipelines_home_even_a_relative_one(
        sy, tmp_path, monkeypatch):
    """Regression: the function's job runs in ``/opt/ml/code``; a relative
    ``STACKYARD_HOME`` (``./.stackyard`` by default) must still mean the pipeline's."""
    import tarfile

    from stackyard.jobs import DriftCheckBaselines, MetricsSource, Model
    from stackyard.registry import ModelRegistry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STACKYARD_HOME", "relative home")
    stats = sy.write("stats.json", '{"version": 0.0, "features": []}')
    weights = sy.write("w.txt", "w")
    with tarfile.open(sy.work / "model.tar.gz", "w:gz") as tar:
        tar.add(weights, arcname="w.txt")
    registry = ModelRegistry()
    for meta in ("churn-model-1", "churn-model-2"):
        pkg = Model(model_data=str(sy.work / "model.tar.gz")).register(
            model_package_group_name="churn", customer_metadata_properties={"ModelName": meta},
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=MetricsSource("application/json", str(stats))))
    registry.update_approval("churn/1", "Approved")   # churn/2 stays pending
    script = sy.write("lambda_getapproved_model.py", REGISTRY_HANDLER)
    step = LambdaStep("GetApproved", Lambda(function_name="get-approved", script=str(script),
                                            handler="lambda_getapproved_model.handler"),
                      inputs={"group": "churn"},
                      outputs=[LambdaOutput(n) for n in ("ModelPackageRef", "ModelName",
                                                        "BaselineStatistics")])
    execution = Pipeline("registry-lambda", steps=[step]).start()
    execution.wait()
    run = engine.describe_run(execution.run_id)
    assert run["status"] == "Succeeded", run["steps"][0]["failure_reason"]
    out = run["steps"][0]["outputs"]["OutputParameters"]
    assert pkg.ref == "churn/2"
    assert out == {"ModelPackageRef": "churn/1", "ModelName": "churn-model-1",
                   "BaselineStatistics": stats.as_uri()}
    assert not list((tmp_path / "relative home" / "runs").rglob("code/relative home"))
