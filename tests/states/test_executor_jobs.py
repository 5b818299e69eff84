"""SageMaker job tasks run as real stackyard jobs; sns:publish records a notification."""

from __future__ import annotations

import json
import tarfile

from states_helpers import output, types

from stackyard import artifacts
from stackyard.states import StateMachine

TRAIN = """
import json, os, pathlib, sys
hp = json.loads(os.environ["SM_HPS"])
data = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"]) / "rows.txt"
if str(hp.get("fail")) == "1":
    pathlib.Path("/opt/ml/output/failure").write_text("asked to fail")
    sys.exit(3)
n = len(data.read_text().split())
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.json").write_text(json.dumps({"n": n}))
print(f"train-rows: {n};")
"""


def _request(src: str, data: str, fail: str = "0", name: str = "train-{}",
             out: str | None = None) -> dict:
    return {
        "TrainingJobName.$": f"States.Format('{name}', $.id)",
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "rows", "Regex": "train-rows: ([0-9]+);"}]},
        "HyperParameters": {"sagemaker_program": "\"train.py\"",
                            "sagemaker_submit_directory": src, "fail": fail},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": data}}}],
        "OutputDataConfig": {"S3OutputPath": out} if out else {},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                           "VolumeSizeInGB": 10},
        "RoleArn": "arn:aws:iam::123456789012:role/sm",
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}}


def test_create_training_job_sync_runs_a_real_job_and_returns_describe_shape(sy):
    src = sy.work / "source dir ü"
    sy.write("source dir ü/train.py", TRAIN)
    sy.write("data/rows.txt", "a b c d\n")
    with tarfile.open(sy.work / "code.tar.gz", "w:gz") as tar:   # a packed source too
        tar.add(src / "train.py", arcname="train.py")
    d = {"StartAt": "Train", "States": {
        "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                  "Parameters": _request(src.as_uri(), str(sy.work / "data"),
                                         out=str(sy.work / "models out")),
                  "ResultPath": "$.train", "Next": "Packed"},
        "Packed": {"Type": "Task",
                   "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                   "Parameters": _request(str(sy.work / "code.tar.gz"),
                                          str(sy.work / "data"), name="packed-{}"),
                   "ResultSelector": {"model.$": "$.ModelArtifacts.S3ModelArtifacts"},
                   "ResultPath": "$.packed", "End": True}}}
    e = StateMachine.create("train", d).start_execution({"id": "7"})
    desc = e.describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    out = output(desc)
    t = out["train"]
    assert t["TrainingJobName"] == "train-7" and t["TrainingJobStatus"] == "Completed"
    assert t["TrainingJobArn"].endswith(":training-job/train-7")
    assert [(m["MetricName"], m["Value"]) for m in t["FinalMetricDataList"]] == [("rows", 4.0)]
    model = artifacts.verify(t["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(model) as tar:
        assert json.load(tar.extractfile("model.json")) == {"n": 4}
    assert t["HyperParameters"]["fail"] == "0"
    assert len(list((sy.work / "models out").glob("train-7*/output/model.tar.gz"))) == 1
    assert artifacts.verify(out["packed"]["model"]).is_file()
    assert types(e.history()).count("TaskSucceeded") == 2


def test_a_training_job_whose_submit_directory_is_the_entry_point_file_alone(sy):
    """An estimator without ``source_dir`` compiles ``sagemaker_submit_directory`` to the
    script's own ``file://`` URI: the job runs that file."""
    script = sy.write("lone script/train.py", TRAIN)
    sy.write("data/rows.txt", "a b c\n")
    d = {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "Parameters": _request(script.as_uri(), str(sy.work / "data")), "End": True}}}
    desc = StateMachine.create("lone", d).start_execution({"id": "1"}).describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    metrics = output(desc)["FinalMetricDataList"]
    assert [(m["MetricName"], m["Value"]) for m in metrics] == [("rows", 3.0)]


def test_failed_and_refused_training_jobs_report_aws_error_names(sy):
    src = sy.work / "src"
    sy.write("src/train.py", TRAIN)
    sy.write("data/rows.txt", "a\n")
    bad = _request(src.as_uri(), str(sy.work / "data"))
    del bad["HyperParameters"]["sagemaker_program"]
    d = {"StartAt": "Fails", "States": {
        "Fails": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                  "Parameters": _request(src.as_uri(), str(sy.work / "data"), fail="1"),
                  "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1,
                             "MaxAttempts": 1}],
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failed",
                             "Next": "Refused"}], "End": True},
        "Refused": {"Type": "Task",
                    "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                    "Parameters": bad,
                    "Catch": [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                               "ResultPath": "$.refused", "Next": "Done"}], "End": True},
        "Done": {"Type": "Pass", "End": True}}}
    e = StateMachine.create("fails", d).start_execution({"id": "1"})
    out = output(e.describe())
    cause = json.loads(out["failed"]["Cause"])
    assert cause["TrainingJobStatus"] == "Failed"
    assert "asked to fail" in cause["FailureReason"]
    assert out["refused"]["Error"] == "SageMaker.AmazonSageMakerException"
    assert "sagemaker_program" in out["refused"]["Cause"]
    assert "Error Code: ValidationException" in out["refused"]["Cause"]
    assert types(e.history()).count("TaskFailed") == 3   # two tries, then the refusal


def test_create_processing_job_sync(sy):
    sy.write("code/prep.py", """
        import pathlib
        rows = pathlib.Path("/opt/ml/processing/input/rows.txt").read_text().split()
        pathlib.Path("/opt/ml/processing/out/count.txt").write_text(str(len(rows)))
    """)
    sy.write("data/rows.txt", "x y z\n")
    d = {"StartAt": "Prep", "States": {"Prep": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
        "Parameters": {
            "ProcessingJobName": "prep-1",
            "AppSpecification": {"ImageUri": "img", "ContainerEntrypoint": [
                "python3", "/opt/ml/processing/input/code/prep.py"]},
            "ProcessingInputs": [
                {"InputName": "rows", "S3Input": {"S3Uri": str(sy.work / "data"),
                                                  "LocalPath": "/opt/ml/processing/input"}},
                {"InputName": "code", "S3Input": {
                    "S3Uri": str(sy.work / "code/prep.py"),
                    "LocalPath": "/opt/ml/processing/input/code"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "counted", "S3Output": {
                "S3Uri": str(sy.work / "published"), "LocalPath": "/opt/ml/processing/out",
                "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                                      "InstanceType": "ml.m5.xlarge",
                                                      "VolumeSizeInGB": 5}},
            "RoleArn": "arn:aws:iam::123456789012:role/sm"},
        "End": True}}}
    desc = StateMachine.create("prep", d).start_execution({}).describe()
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    out = output(desc)
    assert out["ProcessingJobStatus"] == "Completed"
    stored = out["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert (artifacts.verify(stored) / "count.txt").read_text() == "3"
    assert (sy.work / "published" / "count.txt").read_text() == "3"


def test_sns_publish_records_a_notification_once():
    from stackyard.notify import list_notifications

    d = {"StartAt": "Notify", "States": {"Notify": {
        "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:alerting_topic",
                       "Subject": "[ERROR] Model Training failed!",
                       "Message.$": "$.why"},
        "ResultSelector": {"id.$": "$.MessageId"}, "End": True}}}
    e = StateMachine.create("notify", d).start_execution({"why": "the text model failed"})
    assert e.describe()["status"] == "SUCCEEDED"
    sent = list_notifications("alerting_topic")
    assert [(n["subject"], n["message"]) for n in sent] == [
        ("[ERROR] Model Training failed!", "the text model failed")]


def test_map_items_sharing_one_source_archive_unpack_it_once(sy):
    """Parallel branches / Map items that train from one .tar.gz unpack it at the same time:
    each used to unpack to its own temp folder and rename it over the winner's, failing
    with 'Directory not empty'."""
    import io
    import threading

    from stackyard.states._tasks import _unpacked

    archive = sy.work / "code ü.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(200):
            data = bytes([i]) * 3000
            info = tarfile.TarInfo(f"f{i}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    arn = "arn:aws:states:local:000000000000:execution:m:shared"
    got, errors = [], []

    def unpack():
        try:
            got.append(_unpacked(archive, arn))
        except Exception as e:  # noqa: BLE001 - what the task would have failed with
            errors.append(repr(e))

    threads = [threading.Thread(target=unpack) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(got)) == 1
    (dest,) = set(got)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"f{i}.bin" for i in range(200))
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith(".tmp")] == []
