"""The Ray backend on a real cluster (a head and one-CPU worker nodes) with a real S3 server
(moto) as the shared artifact store: seed 001 runs unchanged and matches a local run; a
worker node killed mid-job fails the attempt ``Killed`` and the retry succeeds; a driver
killed with -9 is resumed and adopts the job still running on the cluster; hosts of a
two-instance job get their own SM_CURRENT_HOST on distinct nodes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "diabetes_ensemble" / "pipeline.py"
ONE_CPU = json.dumps({"*": {"CPU": 1}})


def _rows(home: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(str(home / "stackyard.db"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _member(model_uri: str, name: str) -> bytes:
    from stackyard._checks import uri_to_path

    with tarfile.open(uri_to_path(model_uri)) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def test_seed_001_runs_unchanged_on_ray_and_matches_a_local_run(sy, infra, tmp_path):
    homes = {"local": tmp_path / "local-home", "ray": tmp_path / "ray-home"}
    local = sy.cli("run", SEED, "-q", "-p", "KFold=2", timeout=600,
                   env={**os.environ, "STACKYARD_HOME": str(homes["local"])})
    assert local.returncode == 0, local.stdout + local.stderr
    ray_run = sy.cli("run", SEED, "-q", "-p", "KFold=2", "--backend", "ray", "--address",
                     infra.address, "--resources", ONE_CPU, timeout=600,
                     env=infra.env(homes["ray"]))
    assert ray_run.returncode == 0, ray_run.stdout + ray_run.stderr
    # every processing and training job ran on the cluster (its folder names its actors)
    for job_dir, in _rows(homes["ray"], "SELECT job_dir FROM attempts WHERE step IN "
                          "('Preprocess', 'Evaluate')") + _rows(
            homes["ray"], "SELECT job_dir FROM trials"):
        marker = json.loads((Path(job_dir) / "ray.json").read_text())
        assert marker["store"].startswith("s3://") and (Path(job_dir) / "log.txt").stat().st_size
    trials = {h: {r[0]: (r[1], r[2]) for r in _rows(
        home, "SELECT params, objective, model_uri FROM trials WHERE status='Completed'")}
        for h, home in homes.items()}
    same = set(trials["local"]) & set(trials["ray"])
    assert len(same) >= 2          # the seeded start-up proposals at least
    for params in same:
        (obj_l, model_l), (obj_r, model_r) = trials["local"][params], trials["ray"][params]
        assert obj_l == obj_r
        assert _member(model_l, "xgboost-model.json") == _member(model_r, "xgboost-model.json")
    outputs = {h: dict(_rows(home, "SELECT name, outputs FROM steps WHERE name IN "
                             "('Preprocess', 'Evaluate')")) for h, home in homes.items()}
    for step in ("Preprocess", "Evaluate"):  # content addresses: byte-identical outputs
        local, on_ray = ({k: Path(o["S3Output"]["S3Uri"]).name for k, o in json.loads(
            outputs[h][step])["ProcessingOutputConfig"]["Outputs"].items()} for h in homes)
        assert local == on_ray


WAITER = """
import os, pathlib, sys, time
marks = pathlib.Path(MARKS)
with open(marks / "starts", "a") as f:
    f.write(os.environ["SM_CURRENT_HOST"] + " " + os.environ["SM_NUM_CPUS"] + "\\n")
while not (marks / "go").exists():
    time.sleep(0.05)
pathlib.Path(os.environ["SM_MODEL_DIR"], "done.txt").write_text("trained")
print("validation-rmse:1.5;")
"""

PIPELINE = """
from stackyard.jobs import Estimator
from stackyard.workflow import Pipeline, PipelineSession, RetryPolicy, TrainingStep
s = PipelineSession()
est = Estimator(entry_point="waiter.py", source_dir=CODE, instance_type="ml.m5.xlarge",
                instance_count=COUNT, sagemaker_session=s,
                metric_definitions=[{"Name": "rmse", "Regex": "validation-rmse:([0-9.]+);"}])
pipeline = Pipeline(name="waiting", steps=[TrainingStep("Train", step_args=est.fit(),
    retry_policies=[RetryPolicy(exception_types=["Killed"], interval_seconds=1,
                                max_attempts=4)])])
"""


THEN = """
then = TrainingStep("Then", step_args=est.fit(), depends_on=[pipeline.steps[0]])
pipeline = Pipeline(name="waiting", steps=[pipeline.steps[0], then])
"""


def _waiting_pipeline(sy, count: int = 1, then: bool = False) -> tuple[Path, Path]:
    marks = sy.tmp / "marks"
    marks.mkdir()
    code = sy.work / "code"
    sy.write("code/waiter.py", WAITER, MARKS=str(marks))
    return sy.write("waiting.py", PIPELINE + (THEN if then else ""), CODE=str(code),
                    COUNT=count), marks


def _attempts(home: Path, step: str = "Train") -> list[tuple]:
    return _rows(home, f"SELECT n, status, error_type FROM attempts WHERE step='{step}' "
                 "ORDER BY n")


def test_a_dead_worker_node_fails_the_attempt_killed_and_the_retry_succeeds(sy, infra):
    pipe, marks = _waiting_pipeline(sy)
    victim = infra.cluster.add_node(num_cpus=1, resources={"victim": 1})
    only_victim = json.dumps({"*": {"CPU": 1, "victim": 1}})
    proc = sy.cli_popen("run", pipe, "--backend", "ray", "--address", infra.address,
                        "--resources", only_victim, env=infra.env(sy.home))
    try:
        sy.wait_until(lambda: (marks / "starts").exists(), 120, what="the job to start")
        infra.cluster.remove_node(victim, allow_graceful=False)
        sy.wait_until(lambda: len(_attempts(sy.home)) >= 2, 120, what="the retry")
        infra.cluster.add_node(num_cpus=1, resources={"victim": 1})  # room for the retry
        sy.wait_until(lambda: len(sy.lines(marks / "starts")) == 2, 120, what="the retry")
        (marks / "go").write_text("")
        out, _ = proc.communicate(timeout=240)
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.communicate()[0]) from None
    assert proc.returncode == 0, out
    # the first attempt died with its node; a retry placed on it before the cluster
    # noticed dies the same way; the last one ran on the new node
    attempts = _attempts(sy.home)
    assert attempts[0] == (1, "Failed", "Killed") and attempts[-1][1:] == ("Succeeded", None)
    assert all(a[1:] == ("Failed", "Killed") for a in attempts[:-1])
    reason = _rows(sy.home, "SELECT reason FROM attempts WHERE n=1")[0][0]
    assert "Ray node" in reason and "died" in reason
    assert sy.lines(marks / "starts") == ["algo-1 1", "algo-1 1"]


def test_a_driver_killed_with_9_is_resumed_and_adopts_the_running_job(sy, infra):
    """The resume names no backend: the run's own (Ray, its address and resources) is
    used, so the job it adopts and the next step's new job both run on the cluster."""
    pipe, marks = _waiting_pipeline(sy, then=True)
    env = infra.env(sy.home)
    proc = sy.cli_popen("run", pipe, "--backend", "ray", "--address", infra.address,
                        "--resources", ONE_CPU, env=env)
    try:
        sy.wait_until(lambda: (marks / "starts").exists(), 120, what="the job to start")
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.communicate()[0]) from None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id = _rows(sy.home, "SELECT run_id FROM runs")[0][0]
    (marks / "go").write_text("")   # the job goes on without its driver, and finishes
    r = sy.cli("runs", "resume", run_id, env={**env, "STACKYARD_BACKEND": "local"},
               timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _attempts(sy.home) == [(1, "Succeeded", None)]      # adopted, never started again
    assert _attempts(sy.home, "Then") == [(1, "Succeeded", None)]
    assert sy.lines(marks / "starts") == ["algo-1 1", "algo-1 1"]
    then_dir = Path(_rows(sy.home, "SELECT job_dir FROM attempts WHERE step='Then'")[0][0])
    assert json.loads((then_dir / "ray.json").read_text())["address"] == infra.address
    props = json.loads(_rows(sy.home, "SELECT outputs FROM steps WHERE name='Train'")[0][0])
    assert props["FinalMetricDataList"]["rmse"]["Value"] == 1.5
    with tarfile.open(Path(props["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(
            "file://"))) as tar:
        assert tar.extractfile("done.txt").read() == b"trained"  # type: ignore[union-attr]


HOSTS = """
import json, os, pathlib
out = pathlib.Path(os.environ["SM_MODEL_DIR"])
(out / "host.json").write_text(json.dumps({k: os.environ[k] for k in (
    "SM_CURRENT_HOST", "SM_HOSTS", "STACKYARD_RAY_NODE_ID", "STACKYARD_HOST_IPS")}))
(pathlib.Path(MARKS) / os.environ["SM_CURRENT_HOST"]).write_text(
    os.environ["STACKYARD_RAY_NODE_ID"])
print("validation-rmse:1.0;")
"""


def test_two_instances_are_two_hosts_on_distinct_nodes(sy, infra):
    marks = sy.tmp / "marks"
    marks.mkdir()
    sy.write("code/waiter.py", HOSTS, MARKS=str(marks))
    pipe = sy.write("waiting.py", PIPELINE, CODE=str(sy.work / "code"), COUNT=2)
    r = sy.cli("run", pipe, "--backend", "ray", "--address", infra.address, "--resources",
               ONE_CPU, env=infra.env(sy.home), timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    nodes = {h: (marks / h).read_text() for h in ("algo-1", "algo-2")}
    assert nodes["algo-1"] != nodes["algo-2"]
    job_dir = Path(_rows(sy.home, "SELECT job_dir FROM attempts")[0][0])
    first = json.loads((job_dir / "ml" / "model" / "host.json").read_text())
    assert first["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(first["SM_HOSTS"]) == ["algo-1", "algo-2"]
    assert set(json.loads(first["STACKYARD_HOST_IPS"])) == {"algo-1", "algo-2"}
    second = json.loads((job_dir / "hosts" / "algo-2" / "ml" / "model" / "host.json")
                        .read_text())
    assert second["SM_CURRENT_HOST"] == "algo-2"


def test_no_cluster_and_a_store_without_its_bucket_exit_2_before_anything_runs(sy, infra):
    pipe, _ = _waiting_pipeline(sy)
    r = sy.cli("run", pipe, "--backend", "ray", "--address", f"127.0.0.1:{infra.free_port()}",
               env=infra.env(sy.home))
    assert r.returncode == 2 and "no Ray cluster at 127.0.0.1:" in r.stderr, r.stderr
    sy.assert_nothing_written()
    env = {**infra.env(sy.home), "STACKYARD_ARTIFACTS": "s3://no-such-bucket-here/p"}
    r = sy.cli("run", pipe, "--backend", "ray", "--address", infra.address, env=env)
    assert r.returncode == 2 and "s3://no-such-bucket-here/p" in r.stderr, r.stderr
    sy.assert_nothing_written()
    env = {**infra.env(sy.home), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{infra.free_port()}"}
    r = sy.cli("run", pipe, "--backend", "ray", "--address", infra.address, env=env,
               timeout=300)
    assert r.returncode == 2 and env["STACKYARD_ARTIFACTS"] in r.stderr, r.stderr
    sy.assert_nothing_written()


def test_a_host_no_node_can_hold_fails_at_once_naming_the_instance_type(sy, infra):
    pipe, marks = _waiting_pipeline(sy)
    r = sy.cli("run", pipe, "--backend", "ray", "--address", infra.address,
               env=infra.env(sy.home), timeout=240)   # ml.m5.xlarge: 4 CPUs, 16 GiB
    assert r.returncode == 1, r.stdout + r.stderr
    assert _attempts(sy.home) == [(1, "Failed", "InputError")]
    reason = _rows(sy.home, "SELECT reason FROM attempts")[0][0]
    assert "ml.m5.xlarge" in reason and "CPU=4" in reason and "--resources" in reason
    assert not (marks / "starts").exists()
