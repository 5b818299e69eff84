"""The script-mode training contract: SM_* environment, hyperparameters, channels,
model.tar.gz, metrics, failure messages."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from stackyard import artifacts, engine, runtime
from stackyard.jobs import Estimator, ProcessingOutput, ScriptProcessor, TrainingInput
from stackyard.workflow import (
    ConditionLessThan,
    ConditionStep,
    FailStep,
    Join,
    ParameterInteger,
    Pipeline,
    ProcessingStep,
    TrainingStep,
    step,
)

TRAIN = """
import argparse, json, os, pathlib, sys
from mylib.helpers import shout

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
parser.add_argument("--use-bias")
parser.add_argument("--name")
args = parser.parse_args()

env = {k: v for k, v in os.environ.items() if k.startswith("SM_") or k == "TRAINING_JOB_NAME"}
model = pathlib.Path(os.environ["SM_MODEL_DIR"])
train = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"])
valid = pathlib.Path(os.environ["SM_CHANNEL_VALIDATION"])
contract = {
    "env": env, "argv": sys.argv[1:], "cwd": os.getcwd(),
    "args": vars(args),
    "hyperparameters_json": json.loads(
        pathlib.Path("/opt/ml/input/config/hyperparameters.json").read_text()),
    "inputdataconfig": json.loads(
        pathlib.Path("/opt/ml/input/config/inputdataconfig.json").read_text()),
    "train_files": sorted(os.listdir(train)), "valid_files": sorted(os.listdir(valid)),
    "train_text": (train / "rows.csv").read_text(),
    "shout": shout("dep"), "executable": sys.executable,
}
(model / "contract.json").write_text(json.dumps(contract, sort_keys=True))
(model / "weights.bin").write_bytes(b"\\x00\\x01weights")
(model / "sub").mkdir()
(model / "sub" / "extra.txt").write_text("nested")
pathlib.Path(os.environ["SM_OUTPUT_DATA_DIR"], "predictions.csv").write_text("1,2\\n")
for epoch, loss in enumerate([0.9, 0.5, 0.25]):
    print(f"epoch={epoch} train_loss={loss};")
print("validation:accuracy 0.875")
"""


def _training_code(sy):
    sy.write("src/train.py", TRAIN)
    sy.write("deps/mylib/__init__.py", "")
    sy.write("deps/mylib/helpers.py", "def shout(x):\n    return x.upper() + '!'\n")
    sy.write("data/train/rows.csv", "a,b\n1,2\n")
    sy.write("data/valid.csv", "a,b\n3,4\n")


def _estimator(sy, **kw):
    return Estimator(
        entry_point="train.py", source_dir=str(sy.work / "src"),
        dependencies=[str(sy.work / "deps" / "mylib")],
        hyperparameters={"epochs": 3, "lr": 0.1, "use-bias": True, "name": "m1"},
        metric_definitions=[{"Name": "train:loss", "Regex": r"train_loss=([0-9.]+);"},
                            {"Name": "validation:accuracy",
                             "Regex": r"validation:accuracy ([0-9.]+)"}],
        **kw)


def _model_files(uri: str) -> dict[str, bytes]:
    data = artifacts.uri_to_path(uri).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture
def trained(sy):
    _training_code(sy)
    t = TrainingStep("Train", estimator=_estimator(sy), inputs={
        "train": TrainingInput(str(sy.work / "data" / "train"), content_type="text/csv"),
        "validation": f"file://{sy.work / 'data' / 'valid.csv'}"})
    ex = Pipeline("training", steps=[t]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    meta = ex.list_steps()[0]["Metadata"]
    files = _model_files(meta["ModelArtifacts"]["S3ModelArtifacts"])
    return ex, meta, files, json.loads(files["contract.json"])


def test_training_environment_variables(trained):
    _, _, _, c = trained
    env = c["env"]
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNEL_VALIDATION"] == "/opt/ml/input/data/validation"
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "lr": 0.1, "use-bias": True, "name": "m1"}
    assert env["SM_HP_EPOCHS"] == "3" and env["SM_HP_LR"] == "0.1"
    assert env["SM_HP_USE_BIAS"] == "true" and env["SM_HP_NAME"] == "m1"
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_NUM_CPUS"] == str(len(os.sched_getaffinity(0)))
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["channel_input_dirs"] == {"train": "/opt/ml/input/data/train",
                                                  "validation": "/opt/ml/input/data/validation"}
    assert training_env["hyperparameters"]["epochs"] == 3
    assert training_env["model_dir"] == "/opt/ml/model"
    assert training_env["current_host"] == "algo-1"
    assert env["TRAINING_JOB_NAME"] == training_env["job_name"]
    assert c["cwd"] == "/opt/ml/code"


def test_hyperparameters_as_arguments_and_config_file(trained):
    _, meta, _, c = trained
    assert c["argv"] == ["--epochs", "3", "--lr", "0.1", "--use-bias", "true", "--name", "m1"]
    assert c["args"] == {"epochs": 3, "lr": 0.1, "use_bias": "true", "name": "m1"}
    assert c["hyperparameters_json"] == {"epochs": "3", "lr": "0.1", "use-bias": "true",
                                         "name": "m1"}
    assert c["inputdataconfig"]["train"]["ContentType"] == "text/csv"
    assert meta["HyperParameters"] == {"epochs": 3, "lr": 0.1, "use-bias": True, "name": "m1"}


def test_channels_and_dependencies_are_in_place(trained):
    _, _, _, c = trained
    assert c["train_files"] == ["rows.csv"]          # a folder channel: its contents
    assert c["valid_files"] == ["valid.csv"]         # a file channel: the file by its name
    assert c["train_text"] == "a,b\n1,2\n"
    assert c["shout"] == "DEP!"                      # dependencies= folder importable


def test_model_is_packed_into_model_tar_gz(trained):
    _, meta, files, _ = trained
    uri = meta["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri.endswith("/model.tar.gz") and "/artifacts/objects/" in uri
    assert files["weights.bin"] == b"\x00\x01weights"
    assert files["sub/extra.txt"] == b"nested"
    data_dir = artifacts.uri_to_path(meta["OutputDataConfig"]["S3OutputPath"])
    assert (data_dir / "predictions.csv").read_text() == "1,2\n"
    assert meta["TrainingJobStatus"] == "Completed"


def test_metric_definitions_give_final_metrics(trained):
    ex, meta, _, _ = trained
    assert meta["FinalMetricDataList"] == {
        "train:loss": {"MetricName": "train:loss", "Value": 0.25},
        "validation:accuracy": {"MetricName": "validation:accuracy", "Value": 0.875}}
    from stackyard.store import open_store

    assert open_store().get_metrics(ex.run_id, "Train") == {
        "train:loss": [0.9, 0.5, 0.25], "validation:accuracy": [0.875]}


def test_identical_training_gives_an_identical_model_uri(sy):
    """model.tar.gz is reproducible (no mtimes, owners): same files, same content address."""
    sy.write("src/train.py", """
        import os, pathlib, zlib
        model = pathlib.Path(os.environ["SM_MODEL_DIR"])
        (model / "sub").mkdir()
        (model / "sub" / "w.txt").write_text("weights")
        (model / "a.txt").write_text("a")
        # different mtimes per run: they must not leak into the archive
        t = zlib.crc32(os.environ["TRAINING_JOB_NAME"].encode()) % 10**9
        for p in (model / "sub" / "w.txt", model / "a.txt", model / "sub"):
            os.utime(p, (t, t))
    """)
    uris = []
    for _ in range(2):
        t = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                      source_dir=str(sy.work / "src")))
        ex = Pipeline("repro", steps=[t]).start()
        assert ex.wait() == "Succeeded"
        uris.append(ex.list_steps()[0]["Metadata"]["ModelArtifacts"]["S3ModelArtifacts"])
    assert uris[0] == uris[1]
    assert _model_files(uris[0]) == {"a.txt": b"a", "sub/w.txt": b"weights"}


@step(name="Accept")
def accept(model_uri, loss):
    return f"accepted {loss}"


@pytest.mark.parametrize("limit, outcome", [(1, "Succeeded"), (0, "Failed")])
def test_a_final_metric_feeds_a_condition(sy, limit, outcome):
    _training_code(sy)
    t = TrainingStep("Train", estimator=_estimator(sy), inputs={
        "train": str(sy.work / "data" / "train"),
        "validation": str(sy.work / "data" / "valid.csv")})
    loss = t.properties.FinalMetricDataList["train:loss"].Value
    lim = ParameterInteger("Limit", default_value=limit)
    ok = accept(t.properties.ModelArtifacts.S3ModelArtifacts, loss)
    bad = FailStep("LossTooHigh", error_message=Join(on=" ", values=["loss", loss]))
    cond = ConditionStep("Check", conditions=[ConditionLessThan(loss, lim)], if_steps=[ok],
                         else_steps=[bad])
    ex = Pipeline("metric-cond", parameters=[lim], steps=[t, cond]).start()
    assert ex.wait() == outcome
    if outcome == "Succeeded":
        assert ex.result("Accept") == "accepted 0.25"
    else:
        assert ex.describe()["failure_reason"] == "loss 0.25"


def test_a_training_input_from_a_processing_output(sy):
    prep = sy.write("code/prep.py", """
        import pathlib
        pathlib.Path("/opt/ml/processing/train/rows.csv").write_text("from prep")
    """)
    sy.write("src/train.py", """
        import os, pathlib
        # a single input is the "training" channel, as in SageMaker
        text = pathlib.Path(os.environ["SM_CHANNEL_TRAINING"], "rows.csv").read_text()
        pathlib.Path(os.environ["SM_MODEL_DIR"], "seen.txt").write_text(text)
    """)
    p = ProcessingStep("Prep", processor=ScriptProcessor(command=["python3"]), code=str(prep),
                       outputs=[ProcessingOutput(output_name="train",
                                                 source="/opt/ml/processing/train")])
    t = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                  source_dir=str(sy.work / "src")),
                     inputs=TrainingInput(
                         p.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri))
    ex = Pipeline("prep-train", steps=[t]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    meta = {s["StepName"]: s["Metadata"] for s in ex.list_steps()}["Train"]
    assert _model_files(meta["ModelArtifacts"]["S3ModelArtifacts"])["seen.txt"] == b"from prep"


def test_the_failure_file_becomes_the_reason(sy):
    sy.write("src/train.py", """
        import sys
        print("training failed, see failure file")
        open("/opt/ml/output/failure", "w").write("loss diverged to NaN")
        sys.exit(2)
    """)
    t = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                  source_dir=str(sy.work / "src")))
    ex = Pipeline("failure-file", steps=[t]).start()
    assert ex.wait() == "Failed"
    reason = ex.list_steps()[0]["FailureReason"]
    assert reason.startswith("the job exited with code 2: loss diverged to NaN")
    assert "training failed, see failure file" in reason


def test_output_path_receives_a_copy_of_the_model(sy):
    sy.write("src/train.py", """
        import os, pathlib
        pathlib.Path(os.environ["SM_MODEL_DIR"], "m.txt").write_text("exported")
    """)
    dest = sy.tmp / "exported"
    t = TrainingStep("Train", estimator=Estimator(
        entry_point="train.py", source_dir=str(sy.work / "src"), output_path=str(dest)))
    ex = Pipeline("output-path", steps=[t]).start()
    assert ex.wait() == "Succeeded"
    meta = ex.list_steps()[0]["Metadata"]
    copies = list(dest.glob("*/output/model.tar.gz"))
    assert len(copies) == 1
    assert copies[0].parent.parent.name == meta["TrainingJobName"]
    assert copies[0].read_bytes() == artifacts.uri_to_path(
        meta["ModelArtifacts"]["S3ModelArtifacts"]).read_bytes()


def test_training_in_fallback_mode_uses_rewritten_sm_paths(sy, monkeypatch):
    monkeypatch.setenv("STACKYARD_SANDBOX", "off")
    sy.write("data/rows.csv", "x")
    sy.write("src/train.py", """
        import json, os, pathlib
        env = json.loads(os.environ["SM_TRAINING_ENV"])
        pathlib.Path(env["model_dir"], "m.json").write_text(json.dumps({
            "model_dir": os.environ["SM_MODEL_DIR"], "opt_ml": os.environ["STACKYARD_OPT_ML"],
            "channel": os.listdir(os.environ["SM_CHANNEL_TRAIN"]),
            "sandboxed": os.environ["STACKYARD_SANDBOXED"]}))
    """)
    t = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                  source_dir=str(sy.work / "src")),
                     inputs={"train": str(sy.work / "data")})
    ex = Pipeline("fallback-train", steps=[t]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    meta = ex.list_steps()[0]["Metadata"]
    m = json.loads(_model_files(meta["ModelArtifacts"]["S3ModelArtifacts"])["m.json"])
    job_ml = sy.home / "runs" / ex.run_id / "jobs" / "Train" / "attempt-1" / "ml"
    assert m == {"model_dir": f"{job_ml}/model", "opt_ml": str(job_ml),
                 "channel": ["rows.csv"], "sandboxed": "0"}
    assert engine.describe_run(ex.run_id)["status"] == "Succeeded"


def test_an_entry_point_without_source_dir_ships_only_that_file(sy):
    """Regression: the entry point's whole parent folder used to be shipped as code."""
    sy.write("proj/train.py", """
        import os, pathlib
        pathlib.Path(os.environ["SM_MODEL_DIR"], "code.txt").write_text(
            ",".join(sorted(p for p in os.listdir("/opt/ml/code") if p != "__pycache__")))
    """)
    sy.write("proj/notes.txt", "not code")
    sy.write("proj/data/big.csv", "1,2,3\n" * 1000)
    t = TrainingStep("Train", estimator=Estimator(entry_point=str(sy.work / "proj" / "train.py")))
    ex = Pipeline("entry-only", steps=[t]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    meta = ex.list_steps()[0]["Metadata"]
    assert _model_files(meta["ModelArtifacts"]["S3ModelArtifacts"])["code.txt"] == b"train.py"


def test_sm_num_cpus_counts_the_cpus_this_process_may_use() -> None:
    """A job started under ``taskset``/a cpuset must not be told about the machine's other
    CPUs (it would start that many threads on the ones it has)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to narrow the affinity")
    os.sched_setaffinity(0, cpus[:1])
    try:
        spec = runtime.training_spec("j", {"Code": {"EntryPoint": "train.py",
                                                     "EntryPointPath": "train.py"}})
    finally:
        os.sched_setaffinity(0, cpus)
    assert spec.env["SM_NUM_CPUS"] == "1"
    assert json.loads(spec.env["SM_TRAINING_ENV"])["num_cpus"] == 1
