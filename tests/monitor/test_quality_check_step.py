"""``QualityCheckStep`` with SageMaker's baseline lifecycle: a new baseline every run, a
check against the supplied or the latest Approved version's baseline, violations that
fail the step with their list, ``skip_check``, ``register_new_baseline``, and
``fail_on_violation``."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from stackyard import engine
from stackyard._checks import uri_to_path
from stackyard.errors import DefinitionError
from stackyard.jobs import DriftCheckBaselines, MetricsSource, Model
from stackyard.monitor import DatasetFormat
from stackyard.workflow import (
    CheckJobConfig,
    DataQualityCheckConfig,
    ModelStep,
    ParameterString,
    Pipeline,
    PipelineSession,
    QualityCheckStep,
)

GOOD = "a,b,c\n" + "".join(f"{i % 7},{i % 5}.5,x{i % 3}\n" for i in range(200))
DRIFTED = "a,b,c\n" + "".join(f"{i % 7},oops,x{i % 3}\n" for i in range(200))


def _step(sy, data: str, **kw: Any) -> QualityCheckStep:
    path = sy.write(f"data é/{data}.csv", {"good": GOOD, "drifted": DRIFTED}[data])
    return QualityCheckStep("Check", DataQualityCheckConfig(
        baseline_dataset=str(path), dataset_format=DatasetFormat.csv(header=True)),
        CheckJobConfig(role="arn:aws:iam::1:role/r"), **kw)


def _run(*steps: Any, params: dict[str, Any] | None = None,
         parameters: list[Any] | None = None) -> tuple[str, dict[str, Any]]:
    execution = Pipeline("quality", parameters=parameters, steps=list(steps)).start(
        parameters=params)
    execution.wait()
    run = engine.describe_run(execution.run_id)
    return run["status"], {s["name"]: s for s in run["steps"]}


def _doc(uri: str) -> dict[str, Any]:
    return json.loads(uri_to_path(uri).read_text())


def _baseline(sy) -> dict[str, Any]:
    status, steps = _run(_step(sy, "good", skip_check=True, register_new_baseline=True))
    assert status == "Succeeded", steps["Check"]["failure_reason"]
    return steps["Check"]["outputs"]


def test_a_new_baseline_is_calculated_registered_and_used_by_the_next_check(sy):
    """Pipeline 1 baselines the data and registers the calculated files with the model;
    pipeline 2 checks new data against the latest Approved version's baseline."""
    weights = sy.write("w.txt", "w")
    with tarfile.open(sy.work / "model.tar.gz", "w:gz") as tar:
        tar.add(weights, arcname="w.txt")
    check = _step(sy, "good", skip_check=True, register_new_baseline=True)
    stats = MetricsSource("application/json", check.properties.CalculatedBaselineStatistics)
    cons = MetricsSource("application/json", check.properties.CalculatedBaselineConstraints)
    register = ModelStep("Register", step_args=Model(
        model_data=str(sy.work / "model.tar.gz"), sagemaker_session=PipelineSession(),
    ).register(model_package_group_name="churn", approval_status="Approved",
               drift_check_baselines=DriftCheckBaselines(model_data_statistics=stats,
                                                         model_data_constraints=cons)))
    status, steps = _run(check, register)
    assert status == "Succeeded", steps
    out = steps["Check"]["outputs"]
    assert out["BaselineUsedForDriftCheckStatistics"] == out["CalculatedBaselineStatistics"]
    assert out["ViolationReport"] is None and out["DriftCheckBaselineSource"] is None
    assert [f["name"] for f in _doc(out["CalculatedBaselineStatistics"])["features"]] == [
        "a", "b", "c"]
    assert Path(uri_to_path(out["Report"])).read_text().startswith("<!")

    status, steps = _run(_step(sy, "good", model_package_group_name="churn"))
    assert status == "Succeeded", steps["Check"]["failure_reason"]
    again = steps["Check"]["outputs"]
    assert again["DriftCheckBaselineSource"] == "churn/1" and again["ViolationCount"] == 0
    assert _doc(again["BaselineUsedForDriftCheckConstraints"]) == _doc(
        out["CalculatedBaselineConstraints"])

    status, steps = _run(_step(sy, "drifted", model_package_group_name="churn"))
    assert status == "Failed"
    reason = steps["Check"]["failure_reason"]
    assert reason.startswith("ClientError: data quality check found")
    assert "against the churn/1 baseline" in reason and "  - b: " in reason
    assert "violation report: file://" in reason


def test_violations_fail_the_step_listing_them_and_the_report_is_kept(sy):
    base = _baseline(sy)
    status, steps = _run(_step(
        sy, "drifted", supplied_baseline_statistics=base["CalculatedBaselineStatistics"],
        supplied_baseline_constraints=base["CalculatedBaselineConstraints"]))
    assert status == "Failed"
    reason = steps["Check"]["failure_reason"]
    report = uri_to_path(reason.split("violation report: ")[1].split("\n")[0])
    found = json.loads(report.read_text())["violations"]
    assert found and all(f"  - {v['feature_name']}: {v['constraint_check_type']}" in reason
                         for v in found)


def test_fail_on_violation_false_succeeds_and_reports_the_violations(sy):
    base = _baseline(sy)
    status, steps = _run(_step(
        sy, "drifted", fail_on_violation=False,
        supplied_baseline_statistics=base["CalculatedBaselineStatistics"],
        supplied_baseline_constraints=base["CalculatedBaselineConstraints"]))
    assert status == "Succeeded"
    out = steps["Check"]["outputs"]
    assert out["ViolationCount"] > 0
    assert len(_doc(out["ViolationReport"])["violations"]) == out["ViolationCount"]
    assert out["DriftCheckBaselineSource"] == "supplied"


def test_skip_check_never_fails_and_keeps_the_previous_baseline_for_drift_checks(sy):
    base = _baseline(sy)
    status, steps = _run(_step(
        sy, "drifted", skip_check=True,
        supplied_baseline_statistics=base["CalculatedBaselineStatistics"],
        supplied_baseline_constraints=base["CalculatedBaselineConstraints"]))
    assert status == "Succeeded"
    out = steps["Check"]["outputs"]
    assert out["ViolationReport"] is None and out["ViolationCount"] == 0
    assert _doc(out["BaselineUsedForDriftCheckStatistics"]) == _doc(
        base["CalculatedBaselineStatistics"])      # register_new_baseline=False: the previous
    assert _doc(out["CalculatedBaselineStatistics"]) != _doc(base["CalculatedBaselineStatistics"])


def test_supplied_baselines_win_over_the_registry_and_may_be_pipeline_variables(sy):
    base = _baseline(sy)
    stats, cons = ParameterString("Stats"), ParameterString("Cons")
    status, steps = _run(
        _step(sy, "good", model_package_group_name="no-such-group",
              supplied_baseline_statistics=stats, supplied_baseline_constraints=cons),
        parameters=[stats, cons], params={"Stats": base["CalculatedBaselineStatistics"],
                                          "Cons": base["CalculatedBaselineConstraints"]})
    assert status == "Succeeded", steps["Check"]["failure_reason"]
    assert steps["Check"]["outputs"]["DriftCheckBaselineSource"] == "supplied"


def test_a_check_without_a_previous_baseline_fails_saying_what_to_do(sy):
    status, steps = _run(_step(sy, "good"))
    assert status == "Failed"
    assert "a check needs a previous baseline" in steps["Check"]["failure_reason"]
    status, steps = _run(_step(sy, "good", model_package_group_name="empty"))
    assert status == "Failed"
    assert "no model package group 'empty'" in steps["Check"]["failure_reason"]
    assert "skip_check=True" in steps["Check"]["failure_reason"]


def test_bad_arguments_are_refused_before_anything_runs(sy):
    with pytest.raises(DefinitionError, match="supply both"):
        _run(_step(sy, "good", supplied_baseline_statistics="s.json"))
    with pytest.raises(DefinitionError, match="skip_check must be true or false"):
        _run(_step(sy, "good", skip_check="maybe"))
    with pytest.raises(DefinitionError, match="DataQualityCheckConfig"):
        QualityCheckStep("Q", {"baseline_dataset": "x"}, None)
    sy.assert_nothing_written()
