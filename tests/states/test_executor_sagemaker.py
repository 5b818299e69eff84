"""``createTransformJob.sync``, ``createHyperParameterTuningJob.sync`` and ``createModel``
run real stackyard jobs and return the ``Describe*`` shapes; a SageMaker job name another
execution took is refused as SageMaker refuses it (``ResourceInUse``)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from states_helpers import output, types

from stackyard import artifacts
from stackyard.states import StateMachine, StatesError
from stackyard.states._tasks import _claim_job_name

INFERENCE = """
import json, os
import numpy as np

def model_fn(model_dir):
    with open(os.path.join(model_dir, "coef.json")) as f:
        return json.load(f)

def predict_fn(data, model):
    return np.asarray(data, dtype=float) @ np.asarray(model["coef"]) + model["bias"]
"""

# trains nothing: its "loss" is (x - 3)^2, so the tuner's best x is the one nearest 3
TRAIN = """
import json, os, pathlib
hp = json.loads(os.environ["SM_HPS"])
x = float(hp["x"])
pathlib.Path(os.environ["SM_MODEL_DIR"], "x.json").write_text(json.dumps({"x": x}))
print(f"loss={(x - 3) ** 2};")
"""

SM = "arn:aws:states:::sagemaker:"


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coef.json").write_text(json.dumps({"coef": [1.0, 10.0], "bias": 0.5}))
    with tarfile.open(folder / "model.tar.gz", "w:gz") as t:
        t.add(folder / "coef.json", "coef.json")
    (folder / "code").mkdir()
    (folder / "code" / "inference.py").write_text(INFERENCE)
    return folder


def test_create_model_then_transform_job_sync_returns_describe_transform_job(sy):
    m = _model(sy.work / "model dir é")
    sy.write("in put/a.csv", "1,2\n3,4\n")
    sy.write("in put/b.csv", "0,1\n")
    d = {"StartAt": "Model", "States": {
        "Model": {"Type": "Task", "Resource": SM + "createModel",
                  "Parameters": {
                      "ModelName.$": "States.Format('linear-{}', $.id)",
                      "PrimaryContainer": {
                          "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
                          "ModelDataUrl": (m / "model.tar.gz").as_uri(),
                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                          "SAGEMAKER_SUBMIT_DIRECTORY": (m / "code").as_uri()}},
                      "ExecutionRoleArn": "arn:aws:iam::123456789012:role/sm"},
                  "ResultPath": "$.model", "Next": "Score"},
        "Score": {"Type": "Task", "Resource": SM + "createTransformJob.sync",
                  "Parameters": {
                      "TransformJobName.$": "States.Format('score-{}', $.id)",
                      "ModelName.$": "States.Format('linear-{}', $.id)",
                      "TransformInput": {"ContentType": "text/csv", "SplitType": "Line",
                                         "DataSource": {"S3DataSource": {
                                             "S3DataType": "S3Prefix",
                                             "S3Uri": str(sy.work / "in put")}}},
                      "TransformOutput": {"S3OutputPath": str(sy.work / "scored out"),
                                          "AssembleWith": "Line"},
                      "TransformResources": {"InstanceCount": 1,
                                             "InstanceType": "ml.m5.xlarge"}},
                  "ResultPath": "$.score", "End": True}}}
    e = StateMachine.create("score", d).start_execution({"id": "1"})
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    out = output(desc)
    assert out["model"]["ModelArn"].endswith(":model/linear-1")
    t = out["score"]
    assert t["TransformJobName"] == "score-1" and t["TransformJobStatus"] == "Completed"
    assert t["TransformJobArn"].endswith(":transform-job/score-1")
    assert t["ModelName"] == "linear-1"
    stored = artifacts.verify(t["TransformOutput"]["S3OutputPath"])
    assert (stored / "a.csv.out").read_text().split() == ["21.5", "43.5"]
    assert (stored / "b.csv.out").read_text().split() == ["10.5"]
    assert (sy.work / "scored out" / "b.csv.out").read_text().split() == ["10.5"]
    assert t["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == str(sy.work / "in put")
    assert isinstance(t["CreationTime"], int) and isinstance(t["TransformEndTime"], int)


def test_hyperparameter_tuning_job_sync_returns_best_training_job_and_counters(sy):
    src = sy.work / "src"
    sy.write("src/train.py", TRAIN)
    sy.write("data/rows.txt", "x\n")
    d = {"StartAt": "Tune", "States": {"Tune": {
        "Type": "Task", "Resource": SM + "createHyperParameterTuningJob.sync",
        "Parameters": {
            "HyperParameterTuningJobName": "tune-x",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Grid",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 3,
                                   "MaxParallelTrainingJobs": 2},
                "ParameterRanges": {"CategoricalParameterRanges": [
                    {"Name": "x", "Values": ["1", "2.5", "5"]}]}},
            "TrainingJobDefinition": {
                "AlgorithmSpecification": {
                    "TrainingImage": "img", "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+);"}]},
                "StaticHyperParameters": {"sagemaker_program": "\"train.py\"",
                                          "sagemaker_submit_directory": src.as_uri()},
                "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": str(sy.work / "data")}}}],
                "OutputDataConfig": {},
                "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                   "VolumeSizeInGB": 1},
                "RoleArn": "arn:aws:iam::123456789012:role/sm",
                "StoppingCondition": {"MaxRuntimeInSeconds": 300}}},
        "End": True}}}
    e = StateMachine.create("tune", d).start_execution({})
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    t = output(desc)
    assert t["HyperParameterTuningJobName"] == "tune-x"
    assert t["HyperParameterTuningJobStatus"] == "Completed"
    assert t["HyperParameterTuningJobArn"].endswith(":hyper-parameter-tuning-job/tune-x")
    assert t["TrainingJobStatusCounters"] == {"Completed": 3, "InProgress": 0,
                                              "RetryableError": 0, "NonRetryableError": 0,
                                              "Stopped": 0}
    assert t["ObjectiveStatusCounters"] == {"Succeeded": 3, "Pending": 0, "Failed": 0}
    best = t["BestTrainingJob"]
    assert best["TunedHyperParameters"] == {"x": "2.5"}
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "MetricName": "loss", "Value": 0.25}
    assert best["TrainingJobStatus"] == "Completed" and best["ObjectiveStatus"] == "Succeeded"
    assert best["TrainingJobArn"].endswith(":training-job/" + best["TrainingJobName"].lower())
    with tarfile.open(artifacts.verify(best["ModelArtifacts"]["S3ModelArtifacts"])) as tar:
        assert json.load(tar.extractfile("x.json")) == {"x": 2.5}
    assert types(e.history()).count("TaskSucceeded") == 1


def _train_state(src: Path, data: Path, name: str) -> dict:
    return {"Type": "Task", "Resource": SM + "createTrainingJob.sync", "Parameters": {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_program": "train.py",
                            "sagemaker_submit_directory": str(src), "x": "1"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": str(data)}}}],
        "OutputDataConfig": {}, "ResourceConfig": {"InstanceCount": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300}}}


def test_a_training_job_name_another_execution_used_is_resource_in_use(sy):
    sy.write("src/train.py", TRAIN)
    sy.write("data/rows.txt", "x\n")
    machine = StateMachine.create("named", {"StartAt": "Train", "States": {"Train": {
        **_train_state(sy.work / "src", sy.work / "data", "Fixed-Name"),
        "Catch": [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                   "ResultPath": "$.error", "Next": "Refused"}], "End": True},
        "Refused": {"Type": "Pass", "End": True}}})
    first = machine.start_execution({}, name="first")
    assert "error" not in output(first.describe())
    again = output(machine.start_execution({}, name="second").describe())["error"]
    assert again["Error"] == "SageMaker.AmazonSageMakerException"
    assert "Error Code: ResourceInUse" in again["Cause"]
    assert "training-job/fixed-name" in again["Cause"]     # names compare lower-cased
    assert "must be unique within an AWS account" in again["Cause"]
    # the state that owns the name may claim it again (its retries, a resumed driver)
    owner = (sy.home / "sagemaker-names" / "Training" / "fixed-name").read_text()
    assert owner.startswith(first.arn + "|")
    _claim_job_name("Training", "FIXED-name", owner)
    with pytest.raises(StatesError, match="ResourceInUse"):
        _claim_job_name("Training", "fixed-name", owner + "x")
    assert not list((sy.home / "sagemaker-names" / "Training").glob(".*"))   # no temp left


def test_create_model_twice_with_another_artifact_is_refused(sy):
    m = _model(sy.work / "m")
    other = _model(sy.work / "other")
    (other / "coef.json").write_text("{}")
    with tarfile.open(other / "model.tar.gz", "w:gz") as t:
        t.add(other / "coef.json", "coef.json")
    state = lambda url, nxt: {"Type": "Task", "Resource": SM + "createModel",  # noqa: E731
                              "Parameters": {"ModelName": "same", "PrimaryContainer": {
                                  "ModelDataUrl": str(url)}}, "ResultPath": None, **nxt}
    d = {"StartAt": "One", "States": {
        "One": state(m / "model.tar.gz", {"Next": "Again"}),
        "Again": state(m / "model.tar.gz", {"Next": "Other"}),       # the same: a no-op
        "Other": state(other / "model.tar.gz", {"End": True})}}
    desc = StateMachine.create("models", d).start_execution({}).describe()
    assert desc["status"] == "FAILED"
    assert desc["error"] == "SageMaker.AmazonSageMakerException"
    assert 'Cannot create already existing model "arn:aws:sagemaker:' in desc["cause"]
