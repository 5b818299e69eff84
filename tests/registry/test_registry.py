"""The model registry against a real SQLite store, real processes and real artifacts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from stackyard import artifacts
from stackyard.errors import IntegrityError, NotFoundError, UsageError
from stackyard.jobs import MetricsSource, Model, ModelMetrics
from stackyard.registry import ModelRegistry
from stackyard.store import open_store

EXE = str(Path(sys.executable).parent / "stackyard")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    return tmp_path


def make_model(folder: Path, content: str = "weights") -> Path:
    (folder / "m").mkdir(parents=True, exist_ok=True)
    (folder / "m" / "model.txt").write_text(content)
    tar = folder / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(folder / "m" / "model.txt", arcname="model.txt")
    return tar


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], check=False, capture_output=True, text=True,
                          env=env or os.environ.copy())


def test_register_describe_approve_and_audit(home: Path) -> None:
    tar = make_model(home)
    (home / "eval.json").write_text(json.dumps({"regression_metrics": {"rmse": {"value": 3.5}}}))
    pkg = Model(model_data=str(tar)).register(
        content_types=["text/csv"], response_types=["text/csv"],
        model_package_group_name="g", model_metrics=ModelMetrics(
            model_statistics=MetricsSource("application/json", str(home / "eval.json"))),
        customer_metadata_properties={"team": "a"}, description="first")
    assert pkg.ref == "g/1" and pkg.approval_status == "PendingManualApproval"
    reg = ModelRegistry()
    reg.update_approval("g/1", "Approved", comment="looks good", who="alice")
    reg.update_approval("g/1", "Rejected", comment="regression found", who="bob")
    d = reg.describe("g/1")
    assert d["model_metrics"]["ModelQuality"]["Statistics"]["content"][
        "regression_metrics"]["rmse"]["value"] == 3.5
    assert d["customer_metadata_properties"] == {"team": "a"}
    hist = [(h["from_status"], h["to_status"], h["who"], h["comment"])
            for h in d["approval_history"]]
    assert hist[1:] == [("PendingManualApproval", "Approved", "alice", "looks good"),
                        ("Approved", "Rejected", "bob", "regression found")]
    assert hist[0][1] == "PendingManualApproval"
    kinds = [e["kind"] for e in open_store().events()]
    assert kinds == ["model.registered", "model.approval", "model.approval"]


def test_illegal_transition_names_the_allowed_ones(home: Path) -> None:
    Model(model_data=str(make_model(home))).register(model_package_group_name="g")
    reg = ModelRegistry()
    reg.update_approval("g/1", "Rejected")
    with pytest.raises(UsageError, match="Allowed from Rejected: none"):
        reg.update_approval("g/1", "Approved")
    out = cli("models", "approve", "g/1")
    assert out.returncode == 2 and "cannot become Approved" in out.stderr


def test_unknown_group_or_version_exit_2(home: Path) -> None:
    Model(model_data=str(make_model(home))).register(model_package_group_name="g")
    for args in (["models", "list", "nope"], ["models", "describe", "g/9"],
                 ["models", "describe", "g"], ["models", "latest", "nope"]):
        out = cli(*args)
        assert out.returncode == 2, args
        assert "error" in out.stderr
    with pytest.raises(NotFoundError):
        ModelRegistry().describe("g/2")


def test_invalid_metrics_json_leaves_no_version(home: Path) -> None:
    (home / "bad.json").write_text("{not json")
    with pytest.raises(UsageError, match=str(home / "bad.json")):
        Model(model_data=str(make_model(home))).register(
            model_package_group_name="g", model_metrics=ModelMetrics(
                model_statistics=MetricsSource("application/json", str(home / "bad.json"))))
    assert open_store().list_packages("g") == []
    assert open_store().events() == []


def test_latest_orders_by_version_and_status(home: Path) -> None:
    reg = ModelRegistry()
    for i in range(3):
        Model(model_data=str(make_model(home / str(i), f"w{i}"))).register(
            model_package_group_name="g")
    reg.update_approval("g/1", "Approved")
    reg.update_approval("g/2", "Approved")
    assert reg.latest("g").ref == "g/2"
    assert reg.latest("g", None).ref == "g/3"
    js = json.loads(cli("models", "latest", "g", "--approved", "--json").stdout)
    assert js["ref"] == "g/2" and js["approval_status"] == "Approved"
    assert {"metrics", "lineage", "approval_history"} - set(js) == {"metrics"}
    listed = json.loads(cli("models", "list", "g", "--json").stdout)
    assert [x["ref"] for x in listed] == ["g/1", "g/2", "g/3"]
    assert set(listed[0]) == {"ref", "group", "version", "approval_status", "created_at"}


def test_tampered_artifact_is_refused(home: Path) -> None:
    pkg = Model(model_data=str(make_model(home))).register(model_package_group_name="g")
    reg = ModelRegistry()
    out = reg.download("g/1", home / "ok")
    assert (out / "model.txt").read_text() == "weights"
    path = artifacts.uri_to_path(pkg.model_data)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="was modified after it was stored"):
        reg.download("g/1", home / "bad")
    assert not (home / "bad" / "model.txt").exists()


def test_twenty_processes_register_at_once(home: Path) -> None:
    tar = make_model(home)
    code = ("import sys; from stackyard.jobs import Model; "
            f"Model(model_data={str(tar)!r}).register(model_package_group_name='race')")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
             for _ in range(20)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 20
    versions = [p["version"] for p in open_store().list_packages("race")]
    assert versions == list(range(1, 21))


def test_on_approve_starts_the_pipeline_once_per_approval(home: Path, sy) -> None:
    marker = home / "approved.txt"
    (home / "deploy.py").write_text(f"""
from stackyard.workflow import Pipeline, ParameterString, step

@step(name="Note")
def note(ref):
    with open({str(marker)!r}, "a") as f:
        f.write(ref + "\\n")
    return ref

ref = ParameterString("ModelPackage", default_value="none")
pipeline = Pipeline("deploy-on-approve", parameters=[ref], steps=[note(ref)])
""")
    for i in range(2):
        Model(model_data=str(make_model(home / str(i), f"w{i}"))).register(
            model_package_group_name="g")
    out = cli("models", "on-approve", "g", "--run", str(home / "deploy.py"))
    assert out.returncode == 0, out.stderr
    bad = cli("models", "on-approve", "g", "--run", str(home / "deploy.py"),
              "--parameter", "Missing")
    assert bad.returncode == 2 and "no parameter 'Missing'" in bad.stderr
    out = cli("models", "approve", "g/2")
    assert out.returncode == 0 and "started pipeline" in out.stderr, out.stderr
    cli("models", "reject", "g/1")  # not an approval: starts nothing
    (fire,) = open_store().list_fires("rule")
    assert fire["owner"] == "on-approve-g" and fire["params"] == {"ModelPackage": "g/2"}
    # the fire's log is private (it may hold the pipeline's output)
    log = home / "home" / "triggers" / f"fire-{fire['id']}.log"
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    sy.wait_until(lambda: open_store().get_fire(fire["id"])["status"] == "Succeeded",
                  timeout=60, what="the run")
    assert marker.read_text().splitlines() == ["g/2"], log.read_text()
    # a server's loop seeing the same approval later starts nothing more
    from stackyard import triggers

    assert triggers.react_now() == [] and len(open_store().list_fires("rule")) == 1


def test_old_on_approve_subscriptions_become_rules(tmp_path: Path) -> None:
    """A database from before migration 11 keeps its `models on-approve` subscriptions, as
    model-approved rules filtered on their group."""
    import sqlite3

    from stackyard.store import Store
    from stackyard.store._migrations import MIGRATIONS

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    for script in MIGRATIONS[:9]:
        con.executescript(script)
    con.execute("PRAGMA user_version=9")
    con.execute("INSERT INTO subscriptions(kind, grp, action, created_at) VALUES(?,?,?,?)",
                ("on-approve", "churn", json.dumps({"file": "/x/deploy.py", "parameter": "M",
                                                    "params": ["A=1"], "cwd": "/x"}), 1.0))
    con.commit()
    con.close()
    (rule,) = Store(db).list_rules()
    assert rule["name"] == "on-approve-churn-1" and rule["event"] == "model-approved"
    assert rule["pattern"] == {"detail": {"group": ["churn"]}}
    assert rule["target"] == {"kind": "pipeline", "file": "/x/deploy.py", "pipeline": None,
                              "params": ["A=1"], "parameter": "M", "cwd": "/x"}
    assert rule["created_at"] > 1.0  # reacts to approvals from now on, not to old ones


def test_lineage_of_a_pipeline_registered_model(home: Path) -> None:
    from stackyard.jobs import (
        ProcessingInput,
        ProcessingOutput,
        ScriptProcessor,
        SKLearn,
        TrainingInput,
    )
    from stackyard.workflow import (
        ModelStep,
        Pipeline,
        PipelineSession,
        ProcessingStep,
        TrainingStep,
    )

    s = PipelineSession()
    (home / "raw.csv").write_text("1,2\n3,4\n")
    (home / "code").mkdir()
    (home / "code" / "prep.py").write_text(
        "import shutil; shutil.copy('/opt/ml/processing/input/raw.csv', "
        "'/opt/ml/processing/out/data.csv')\n")
    (home / "code" / "train.py").write_text(
        "import os; open(os.path.join(os.environ['SM_MODEL_DIR'], 'm'), 'w').write('m')\n")
    prep = ProcessingStep("Prep", step_args=ScriptProcessor(sagemaker_session=s).run(
        code=str(home / "code" / "prep.py"),
        inputs=[ProcessingInput(source=str(home / "raw.csv"),
                                destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")]))
    train = TrainingStep("Train", step_args=SKLearn(
        entry_point="train.py", source_dir=str(home / "code"), hyperparameters={"a": 1},
        sagemaker_session=s).fit({"train": TrainingInput(
            prep.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri)}))
    reg = ModelStep("Register", step_args=Model(
        model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
        sagemaker_session=s).register(model_package_group_name="lin"))
    ex = Pipeline("lineage", steps=[reg]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    lin = ModelRegistry().describe("lin/1")["lineage"]
    assert lin["registered_by"]["run_id"] == ex.run_id
    trained = lin["model"]["produced_by"]
    assert trained["step"] == "Train" and trained["run_id"] == ex.run_id
    assert trained["hyperparameters"] == {"a": 1}
    assert trained["code"]["sha256"] == artifacts.content_hash(str(home / "code"))
    prep_node = trained["inputs"][0]["produced_by"]
    assert prep_node["step"] == "Prep"
    raw = prep_node["inputs"][0]
    assert raw["sha256"] == artifacts.sha256_file(home / "raw.csv")
    assert "numpy" in lin["environment"]["packages"]
    tree = cli("models", "lineage", "lin/1")
    assert tree.returncode == 0 and "Prep" in tree.stdout and raw["sha256"][:12] in tree.stdout
    # a resumed run whose step registers again gets the same version, not a duplicate
    again = ModelRegistry().register("lin", lin["model"]["uri"],
                                     source_key=f"{ex.run_id}/Register")
    assert again.ref == "lin/1" and len(open_store().list_packages("lin")) == 1
