"""``MonitorBatchTransformStep``: a ``<name>-transform`` step and a ``<name>-monitoring``
quality check of its input (data quality, before the transform) or its output (model
quality, after), as SageMaker builds it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transform_helpers import BIAS, COEF, calls, csv_file, predict

from stackyard import engine
from stackyard._checks import uri_to_path
from stackyard.errors import DefinitionError
from stackyard.jobs import Transformer
from stackyard.monitor import DatasetFormat, suggest_baseline
from stackyard.workflow import (
    CheckJobConfig,
    DataQualityCheckConfig,
    ModelQualityCheckConfig,
    MonitorBatchTransformStep,
    Pipeline,
    PipelineSession,
)

CSV = DatasetFormat.csv(header=False)


def _run(step: MonitorBatchTransformStep) -> tuple[str, dict[str, Any], dict[str, Any]]:
    pipeline = Pipeline("monitored-batch", steps=[step])
    execution = pipeline.start()
    execution.wait()
    run = engine.describe_run(execution.run_id)
    defs = {s["Name"]: s for s in pipeline.definition_dict()["Steps"]}
    return run["status"], {s["name"]: s for s in run["steps"]}, defs


def _baseline(tmp_path: Path, kind: str, config: dict[str, Any]) -> dict[str, str]:
    return suggest_baseline(kind, config, output_dir=tmp_path / f"baseline-{kind}")


def test_data_quality_before_the_transform_gates_it(tmp_path, model_name, tx_log, sy):
    good = csv_file(tmp_path / "good" / "x.csv", [[i % 5, i % 3, 1.5] for i in range(100)])
    base = _baseline(tmp_path, "DATA_QUALITY", {"baseline_dataset": str(good),
                                                "dataset_format": CSV})

    def step(data: Path) -> MonitorBatchTransformStep:
        return MonitorBatchTransformStep(
            "Batch", Transformer(model_name, assemble_with="Line",
                                 sagemaker_session=PipelineSession()).transform(
                str(data), content_type="text/csv", split_type="Line"),
            DataQualityCheckConfig(baseline_dataset=None, dataset_format=CSV),
            CheckJobConfig(role="r"), monitor_before_transform=True,
            supplied_baseline_statistics=base["statistics"],
            supplied_baseline_constraints=base["constraints"])

    status, steps, defs = _run(step(good.parent))
    assert status == "Succeeded", {n: s["failure_reason"] for n, s in steps.items()}
    assert defs["Batch-transform"]["DependsOn"] == ["Batch-monitoring"]
    assert "DependsOn" not in defs["Batch-monitoring"]
    assert steps["Batch-monitoring"]["end_time"] <= steps["Batch-transform"]["start_time"]
    assert steps["Batch-monitoring"]["outputs"]["ViolationCount"] == 0

    tx_log.unlink()
    drifted = csv_file(tmp_path / "drifted" / "x.csv", [[i % 5, "oops", 1.5] for i in range(100)])
    status, steps, _ = _run(step(drifted.parent))
    assert status == "Failed"
    assert "ClientError: data quality check found" in steps["Batch-monitoring"]["failure_reason"]
    assert steps.get("Batch-transform", {}).get("status") != "Succeeded"
    assert calls(tx_log) == []                        # the model never saw the drifted data


def test_model_quality_after_the_transform_reads_its_output_and_records_violations(
        tmp_path, model_name, sy):
    """``fail_on_violation=False``: the run goes on and the report is still recorded. The
    check reads this run's output, not the other files in the shared ``output_path``."""
    def rows(noise: float) -> list[list[float]]:
        return [[i % 5, i % 3, i % 2, predict(COEF, BIAS, [i % 5, i % 3, i % 2]) + noise * (
            1 if i % 2 else -1)] for i in range(60)]

    joined = tmp_path / "joined.csv"
    joined.write_text("".join(f"{a},{b},{c},{y},{predict(COEF, BIAS, [a, b, c])!r}\n"
                              for a, b, c, y in rows(0.1)))
    config = {"problem_type": "Regression", "ground_truth_attribute": "3",
              "inference_attribute": "4", "dataset_format": CSV}
    base = _baseline(tmp_path, "MODEL_QUALITY", {**config, "baseline_dataset": str(joined)})
    out = tmp_path / "shared out"
    csv_file(out / "older-run.csv.out", [["not", "numbers"]])
    data = csv_file(tmp_path / "in" / "batch.csv", rows(25.0))
    step = MonitorBatchTransformStep(
        "Batch", Transformer(model_name, assemble_with="Line", output_path=str(out),
                             sagemaker_session=PipelineSession()).transform(
            str(data.parent), content_type="text/csv", split_type="Line",
            input_filter="$[0:2]", join_source="Input"),
        ModelQualityCheckConfig(baseline_dataset=str(out), **config),
        CheckJobConfig(role="r"), fail_on_violation=False,
        supplied_baseline_statistics=base["statistics"],
        supplied_baseline_constraints=base["constraints"])
    status, steps, defs = _run(step)
    assert status == "Succeeded", {n: s["failure_reason"] for n, s in steps.items()}
    assert defs["Batch-monitoring"]["DependsOn"] == ["Batch-transform"]
    assert defs["Batch-monitoring"]["Arguments"]["QualityCheckConfig"]["baseline_dataset"] == {
        "Get": "Steps.Batch-transform.TransformOutput.S3OutputPath"}
    check = steps["Batch-monitoring"]
    assert check["outputs"]["ViolationCount"] > 0
    report = uri_to_path(check["outputs"]["ViolationReport"])
    assert "mae" in {v["metric_name"] for v in json.loads(report.read_text())["violations"]}
    assert (out / "batch.csv.out").exists()          # published beside the older file


def test_monitor_before_transform_needs_a_data_quality_config(tmp_path, model_name, sy):
    args = Transformer(model_name, sagemaker_session=PipelineSession()).transform(
        str(tmp_path), content_type="text/csv")
    with pytest.raises(DefinitionError, match="monitor_before_transform"):
        MonitorBatchTransformStep("B", args, ModelQualityCheckConfig(
            baseline_dataset=None, dataset_format=CSV, problem_type="Regression"),
            CheckJobConfig(role="r"), monitor_before_transform=True)
    with pytest.raises(DefinitionError, match="transformer.transform"):
        MonitorBatchTransformStep("B", {"not": "args"}, DataQualityCheckConfig(
            baseline_dataset=None, dataset_format=CSV), CheckJobConfig(role="r"))
