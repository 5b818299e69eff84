"""Model-quality metrics against scikit-learn's (direct and joined on ids), endpoint capture
checked against a registered baseline from the CLI, and recorded runs surviving a kill."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from stackyard.errors import UsageError
from stackyard.monitor import (
    MODEL_QUALITY,
    DatasetFormat,
    DefaultModelMonitor,
    ModelQualityMonitor,
    run_check,
)


def test_regression_metrics_match_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 300)
    p = y + rng.normal(0, 1, 300)
    pd.DataFrame({"label": y, "pred": p}).to_csv(tmp_path / "d.csv", index=False)
    r = run_check(MODEL_QUALITY, {"baseline_dataset": str(tmp_path / "d.csv"),
                                  "dataset_format": DatasetFormat.csv(),
                                  "problem_type": "Regression", "inference_attribute": "pred",
                                  "ground_truth_attribute": "label"}, output_dir=tmp_path / "o")
    m = json.loads(Path(r["statistics"]).read_text())["regression_metrics"]
    assert m["mae"]["value"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["mse"]["value"] == pytest.approx(skm.mean_squared_error(y, p))
    assert m["rmse"]["value"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert m["r2"]["value"] == pytest.approx(skm.r2_score(y, p))
    cons = json.loads(Path(r["constraints"]).read_text())["regression_constraints"]
    assert cons["mae"]["comparison_operator"] == "GreaterThanThreshold"
    # worse predictions break the baseline's thresholds; the same ones do not
    pd.DataFrame({"label": y, "pred": y + rng.normal(0, 3, 300)}).to_csv(tmp_path / "w.csv",
                                                                          index=False)
    for src, bad in (("d.csv", False), ("w.csv", True)):
        out = run_check(MODEL_QUALITY, {"baseline_dataset": str(tmp_path / src),
                                        "dataset_format": DatasetFormat.csv(),
                                        "problem_type": "Regression",
                                        "inference_attribute": "pred",
                                        "ground_truth_attribute": "label"},
                        r["statistics"], r["constraints"], output_dir=tmp_path / f"c-{src}")
        names = {v["metric_name"] for v in out["violations_list"]}
        assert (names == {"mae", "mse", "rmse", "r2"}) if bad else names == set()


def _capture_line(inference_id: str | None, event_id: str, x: float, prob: float) -> str:
    meta = {"eventId": event_id, "inferenceTime": "2026-01-01T00:00:00.000Z"}
    if inference_id:
        meta["inferenceId"] = inference_id
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                          "data": f"{x},1", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                           "data": f"{prob}\n", "encoding": "CSV"}},
        "eventMetadata": meta, "eventVersion": "0"})


@pytest.mark.parametrize("key", ["inferenceId", "eventId"])
def test_binary_metrics_join_capture_with_ground_truth(tmp_path: Path, key: str) -> None:
    rng = np.random.default_rng(1)
    n = 200
    y = rng.integers(0, 2, n)
    prob = np.clip(y * 0.6 + rng.uniform(0, 0.5, n), 0, 1)
    ids = [f"id-{i}" for i in range(n)]
    (tmp_path / "cap.jsonl").write_text("\n".join(
        _capture_line(ids[i] if key == "inferenceId" else None,
                      f"ev-{i}" if key == "inferenceId" else ids[i], 0.5, prob[i])
        for i in range(n)))
    order = rng.permutation(n)  # ground truth arrives in another order
    (tmp_path / "truth.jsonl").write_text("\n".join(json.dumps({
        "groundTruthData": {"data": str(int(y[i])), "encoding": "CSV"},
        "eventMetadata": {"eventId": ids[i]}, "eventVersion": "0"}) for i in order))
    config = {"baseline_dataset": str(tmp_path / "cap.jsonl"),
              "dataset_format": DatasetFormat.sagemaker_capture_json(),
              "problem_type": "BinaryClassification",
              "ground_truth_input": str(tmp_path / "truth.jsonl")}
    r = run_check(MODEL_QUALITY, config, output_dir=tmp_path / "o")
    m = json.loads(Path(r["statistics"]).read_text())["binary_classification_metrics"]
    labels = (prob >= 0.5).astype(int)
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, labels))
    assert m["precision"]["value"] == pytest.approx(skm.precision_score(y, labels))
    assert m["recall"]["value"] == pytest.approx(skm.recall_score(y, labels))
    assert m["f1"]["value"] == pytest.approx(skm.f1_score(y, labels))
    assert m["auc"]["value"] == pytest.approx(skm.roc_auc_score(y, prob))


def test_row_order_join_needs_equal_counts(tmp_path: Path) -> None:
    (tmp_path / "pred.csv").write_text("1\n0\n1\n")
    (tmp_path / "truth.csv").write_text("1\n1\n")
    monitor = ModelQualityMonitor(role="arn:aws:iam::1:role/x", instance_type="ml.m5.large")
    with pytest.raises(UsageError, match="row order needs equal counts"):
        monitor.run_monitoring(str(tmp_path / "pred.csv"), str(tmp_path / "truth.csv"),
                               "BinaryClassification", statistics={}, constraints={
                                   "binary_classification_constraints": {"accuracy": {
                                       "threshold": 0.5,
                                       "comparison_operator": "LessThanThreshold"}}})
    with pytest.raises(TypeError, match="instance_typo"):
        ModelQualityMonitor(instance_typo="x")


# ---- endpoint capture, registry baseline, CLI ------------------------------------------------
def _register_with_baseline(tmp: Path, stats: str, cons: str) -> str:
    from stackyard.jobs._model import DriftCheckBaselines, MetricsSource
    from stackyard.registry import ModelRegistry

    tar = tmp / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        info = tarfile.TarInfo("model.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    baselines = DriftCheckBaselines(
        model_data_statistics=MetricsSource("application/json", stats),
        model_data_constraints=MetricsSource("application/json", cons))
    pkg = ModelRegistry().register("churn", str(tar),
                                   drift_check_baselines=baselines.to_request())
    return pkg.ref


def test_endpoint_capture_checked_against_registered_baseline(tmp_path: Path, sy) -> None:
    from stackyard.serving._capture import CaptureWriter

    rng = np.random.default_rng(2)
    train = pd.DataFrame({"churn": rng.integers(0, 2, 500), "minutes": rng.normal(100, 10, 500),
                          "calls": rng.integers(0, 9, 500)})
    train.to_csv(tmp_path / "train.csv", index=False)
    base = DefaultModelMonitor(role="r").suggest_baseline(
        str(tmp_path / "train.csv"), DatasetFormat.csv(header=True))
    ref = _register_with_baseline(tmp_path, base["outputs"]["statistics"],
                                  base["outputs"]["constraints"])
    writer = CaptureWriter("churn-ep", percent=100)  # the endpoint's own capture writer
    for i in range(300):  # traffic has drifted: minutes are 30 higher
        row = f"{rng.normal(130, 10)},{rng.integers(0, 9)}".encode()
        answer = f"{i % 2}\n".encode()  # the label column (first in the baseline): no drift
        writer.capture("AllTraffic", f"e{i}", f"i{i}", row, "text/csv", answer, "text/csv")
    writer.close()
    run = sy.cli_json("monitor", "run", "--endpoint", "churn-ep", "--baseline", ref,
                      "--since", "1h")
    assert run["status"] == "CompletedWithViolations"
    found = {(v["feature_name"], v["constraint_check_type"]) for v in run["violations_list"]}
    assert found == {("minutes", "baseline_drift_check")}
    listed = sy.cli_json("monitor", "list")
    assert listed[0]["run_id"] == run["run_id"]
    assert len(listed) == 2  # the baselining job is recorded too
    described = sy.cli_json("monitor", "describe", run["run_id"])
    assert described["violations_list"] == run["violations_list"]
    report = sy.cli_json("monitor", "report", run["run_id"])["report"]
    assert "minutes" in Path(report).read_text()
    for args, words in ((("--baseline", "churn/9"), "no version 9"),
                        (("--baseline", "../x"), "GROUP/VERSION"),
                        (("--since", "1y"), "time offset")):
        opts = {"--endpoint": "churn-ep", "--baseline": ref, "--since": "1h"}
        opts.update(dict([args]))
        r = sy.cli("monitor", "run", *[x for kv in opts.items() for x in kv])
        assert r.returncode == 2 and words in r.stderr, r.stderr
    r = sy.cli("monitor", "run", "--endpoint", "quiet-ep", "--baseline", ref)
    assert r.returncode == 2 and "no captured requests" in r.stderr


def test_a_killed_run_is_recorded_failed(tmp_path: Path, sy) -> None:
    from stackyard.runtime._job import process_start_time
    from stackyard.store import open_store

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = process_start_time(child.pid)
    open_store().add_monitoring_run("20260101-000000-abcdef", "DATA_QUALITY", "check", "x",
                                    None, child.pid, start)
    assert sy.cli_json("monitor", "list")[0]["status"] == "InProgress"
    child.kill()  # kill -9 in the middle of the run
    child.wait()
    row = sy.cli_json("monitor", "describe", "20260101-000000-abcdef")
    assert row["status"] == "Failed" and "killed" in row["failure_reason"]


@pytest.mark.parametrize("text", ["PT١H", "١h", "P99999999999D", "999999D", "0h", "PT0S",
                                  "P" + "9" * 5000 + "D", "PT", "1y", ""])
def test_since_junk_is_a_usage_error_not_an_overflow(text: str) -> None:
    """Unicode digits (``re``'s ``\\d`` takes them), spans past ``datetime``'s range (an
    OverflowError traceback before), more digits than ``int()`` parses, and an empty span
    are all refused by name."""
    from stackyard.errors import UsageError
    from stackyard.monitor._api import parse_offset

    with pytest.raises(UsageError, match="time offset"):
        parse_offset(text)


def test_since_accepts_both_spellings() -> None:
    from datetime import timedelta

    from stackyard.monitor._api import parse_offset

    assert parse_offset("-PT1H") == parse_offset("1h") == timedelta(hours=1)
    assert parse_offset("P1DT2H30M") == timedelta(days=1, hours=2, minutes=30)
    assert parse_offset("3660d") == timedelta(days=3660)
