"""ConditionStep: the branch not taken, and whatever depends on it, shows as Skipped."""

from __future__ import annotations

import pytest

from stackyard.jobs import ProcessingOutput, ScriptProcessor
from stackyard.workflow import (
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
    ConditionStep,
    FailStep,
    Join,
    JsonGet,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingStep,
    PropertyFile,
    step,
)

PY = ScriptProcessor(command=["python3"])


@step(name="Train")
def train_a():
    return "trained"


@step(name="Deploy")
def deploy(model):
    return f"deployed {model}"


@step(name="Notify")
def notify(msg):
    return f"notified: {msg}"


@step(name="Skip")
def skip_note():
    return "skip path"


@step(name="AfterSkip")
def after_skip(x):
    return x


def _flag_pipeline():
    flag = ParameterBoolean("Deploy", default_value=True)
    model = train_a()
    dep = deploy(model)
    note = notify(dep)                       # depends only on the if-branch
    alt = skip_note()
    alt_next = after_skip(alt)               # depends only on the else-branch
    cond = ConditionStep("ShouldDeploy", conditions=[ConditionEquals(flag, True)],
                         if_steps=[dep], else_steps=[alt])
    return Pipeline("flag", parameters=[flag], steps=[model, cond, note, alt_next])


@pytest.mark.parametrize("value, ran, skipped", [
    (True, {"Train", "ShouldDeploy", "Deploy", "Notify"}, {"Skip", "AfterSkip"}),
    ("false", {"Train", "ShouldDeploy", "Skip", "AfterSkip"}, {"Deploy", "Notify"}),
])
def test_condition_on_a_boolean_parameter_skips_a_branch_and_its_dependents(
        sy, value, ran, skipped):
    ex = _flag_pipeline().start({"Deploy": value})
    assert ex.wait() == "Succeeded"
    statuses = {s["StepName"]: s["StepStatus"] for s in ex.list_steps()}
    assert statuses == {**dict.fromkeys(ran, "Succeeded"), **dict.fromkeys(skipped, "Skipped")}
    cond = next(s for s in ex.list_steps() if s["StepName"] == "ShouldDeploy")
    assert cond["Metadata"] == {"Outcome": value is True}
    for s in ex.list_steps():
        if s["StepStatus"] == "Skipped":
            assert s["AttemptCount"] == 0 and s["StartTime"] is None
    if value is True:
        assert ex.result("Notify") == "notified: deployed trained"


EVAL = """
import json, os
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
json.dump({"metrics": {"rmse": {"value": RMSE}}, "folds": [0.1, 0.2]},
          open("/opt/ml/processing/evaluation/evaluation.json", "w"))
"""


def _eval_pipeline(sy, rmse: float):
    code = sy.write("code/evaluate.py", EVAL, RMSE=rmse)
    report = PropertyFile(name="EvaluationReport", output_name="evaluation",
                          path="evaluation.json")
    ev = ProcessingStep("Evaluate", processor=PY, code=str(code), property_files=[report],
                        outputs=[ProcessingOutput(output_name="evaluation",
                                                  source="/opt/ml/processing/evaluation")])
    limit = ParameterFloat("MaxRmse", default_value=0.5)
    rmse_value = JsonGet(step=ev, property_file=report, json_path="metrics.rmse.value")
    ok = notify(Join(on=" ", values=["rmse", rmse_value, "fold1",
                                     JsonGet(step=ev, property_file=report,
                                             json_path="$.folds[1]")]))
    too_high = FailStep("TooHigh", error_message=Join(on=" ", values=[
        "rmse", rmse_value, "above", limit]))
    cond = ConditionStep("CheckRmse", conditions=[ConditionLessThanOrEqualTo(rmse_value, limit)],
                         if_steps=[ok], else_steps=[too_high])
    return Pipeline("evaluate", parameters=[limit], steps=[ev, cond])


def test_property_file_and_json_get_feed_a_condition_that_passes(sy):
    ex = _eval_pipeline(sy, 0.25).start()
    assert ex.wait() == "Succeeded"
    statuses = {s["StepName"]: s["StepStatus"] for s in ex.list_steps()}
    assert statuses == {"Evaluate": "Succeeded", "CheckRmse": "Succeeded",
                        "Notify": "Succeeded", "TooHigh": "Skipped"}
    assert ex.result("Notify") == "notified: rmse 0.25 fold1 0.2"
    meta = {s["StepName"]: s["Metadata"] for s in ex.list_steps()}
    assert meta["Evaluate"]["PropertyFiles"] == {
        "EvaluationReport": {"OutputName": "evaluation", "FilePath": "evaluation.json"}}


def test_property_file_and_json_get_feed_a_condition_that_fails(sy):
    ex = _eval_pipeline(sy, 0.25).start({"MaxRmse": 0.1})
    assert ex.wait() == "Failed"
    statuses = {s["StepName"]: s["StepStatus"] for s in ex.list_steps()}
    assert statuses == {"Evaluate": "Succeeded", "CheckRmse": "Succeeded",
                        "Notify": "Skipped", "TooHigh": "Failed"}
    assert ex.describe()["failure_reason"] == "rmse 0.25 above 0.1"


def test_json_get_on_a_property_file_that_was_not_written(sy):
    code = sy.write("code/nothing.py", "print('no report')\n")
    report = PropertyFile(name="R", output_name="out", path="missing.json")
    ev = ProcessingStep("Eval", processor=PY, code=str(code), property_files=[report],
                        outputs=[ProcessingOutput(output_name="out",
                                                  source="/opt/ml/processing/out")])
    cond = ConditionStep("C", conditions=[ConditionGreaterThan(
        JsonGet(step=ev, property_file=report, json_path="x"), 0)], if_steps=[skip_note()])
    ex = Pipeline("nojson", steps=[ev, cond]).start()
    assert ex.wait() == "Failed"
    c = next(s for s in ex.list_steps() if s["StepName"] == "C")
    assert c["StepStatus"] == "Failed"
    assert "missing.json" in c["FailureReason"] and "was not written" in c["FailureReason"]


@step(name="Value")
def value():
    return {"n": 5, "s": "beta", "f": 0.5}


@pytest.mark.parametrize("conditions, outcome", [
    ([ConditionEquals("beta", "beta")], True),
    ([ConditionGreaterThan(5, 4)], True),
    ([ConditionGreaterThan(5, 5)], False),
    ([ConditionGreaterThanOrEqualTo(5, 5)], True),
    ([ConditionLessThan(0.4, 0.5)], True),
    ([ConditionLessThanOrEqualTo(0.6, 0.5)], False),
    ([ConditionIn("beta", ["alpha", "beta"])], True),
    ([ConditionIn("gamma", ["alpha", "beta"])], False),
    ([ConditionNot(ConditionEquals(1, 2))], True),
    ([ConditionOr([ConditionEquals(1, 2), ConditionLessThan(1, 2)])], True),
    ([ConditionOr([ConditionEquals(1, 2), ConditionLessThan(3, 2)])], False),
    ([ConditionEquals(1, 1), ConditionEquals(1, 2)], False),   # every condition must hold
    ([ConditionEquals(1, 1), ConditionLessThan(1, 2)], True),
])
def test_condition_types_evaluate_constants(sy, conditions, outcome):
    cond = ConditionStep("C", conditions=conditions, if_steps=[skip_note()])
    ex = Pipeline("consts", steps=[cond]).start()
    assert ex.wait() == "Succeeded"
    meta = {s["StepName"]: s for s in ex.list_steps()}
    assert meta["C"]["Metadata"] == {"Outcome": outcome}
    assert meta["Skip"]["StepStatus"] == ("Succeeded" if outcome else "Skipped")


def test_conditions_on_step_results_and_parameters(sy):
    v = value()
    n = ParameterInteger("N", default_value=5)
    mode = ParameterString("Mode", default_value="beta")
    cond = ConditionStep("C", conditions=[
        ConditionEquals(v["n"], n),
        ConditionIn(mode, [v["s"], "other"]),
        ConditionGreaterThan(v["f"], "0.25"),  # numeric strings compare as numbers
    ], if_steps=[skip_note()])
    ex = Pipeline("refs", parameters=[n, mode], steps=[cond]).start()
    assert ex.wait() == "Succeeded"
    assert {s["StepName"]: s["StepStatus"] for s in ex.list_steps()}["Skip"] == "Succeeded"
    ex2 = Pipeline("refs", parameters=[n, mode], steps=[cond]).start({"N": 6})
    assert ex2.wait() == "Succeeded"
    assert {s["StepName"]: s["StepStatus"] for s in ex2.list_steps()}["Skip"] == "Skipped"


def test_a_condition_that_cannot_compare_fails_its_step(sy):
    cond = ConditionStep("C", conditions=[ConditionGreaterThan("abc", 1)],
                         if_steps=[skip_note()])
    ex = Pipeline("incomparable", steps=[cond]).start()
    assert ex.wait() == "Failed"
    c = next(s for s in ex.list_steps() if s["StepName"] == "C")
    assert "cannot compare" in c["FailureReason"]
