"""Batch transform on a real Ray cluster (a head and one-CPU worker nodes, moto as the
shared artifact store): a ``TransformStep`` run with ``--backend ray`` writes the same bytes
as a local transform of the same input; a worker node killed mid-file fails that file alone
and a resume redoes only it (and the file no worker was left for), keeping the others."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "transform"))
from transform_helpers import BIAS, COEF, calls, csv_file, predict, write_model  # noqa: E402

pytestmark = pytest.mark.slow
ONE_CPU = {"*": {"CPU": 1}}


def _rows(file_index: int, n: int) -> list[list[int]]:
    return [[file_index, i % 10, i % 3] for i in range(n)]


@pytest.fixture
def model(tmp_path: Path) -> str:
    from stackyard.jobs import Model

    tar, code = write_model(tmp_path / "model", COEF, BIAS)
    return Model(model_data=str(tar), entry_point="inference.py", source_dir=str(code),
                 name="linear").create()


def test_a_transform_step_on_ray_writes_the_bytes_a_local_transform_writes(
        sy, ray_env, model, tmp_path):
    from stackyard.jobs import Transformer

    folder = tmp_path / "in dätä"   # a space and non-ASCII on the way through the store
    for k in range(4):
        csv_file(folder / f"part-{k}.csv", _rows(k, 200 + 50 * k))
    (folder / "sub").mkdir()
    csv_file(folder / "sub" / "nested.csv", _rows(7, 30))
    local_out = tmp_path / "local-out"
    Transformer(model, instance_count=2, assemble_with="Line",
                output_path=str(local_out)).transform(
        str(folder), content_type="text/csv", split_type="Line", job_name="tx-local")
    pipe = sy.write("score.py", """
        from stackyard.jobs import Transformer
        from stackyard.workflow import Pipeline, PipelineSession, TransformStep
        t = Transformer(MODEL, instance_count=2, assemble_with="Line", output_path=OUT,
                        sagemaker_session=PipelineSession())
        pipeline = Pipeline(name="score", steps=[TransformStep("Score", step_args=t.transform(
            DATA, content_type="text/csv", split_type="Line"))])
        """, MODEL=model, OUT=str(tmp_path / "ray-out"), DATA=str(folder))
    r = sy.cli("run", pipe, "--backend", "ray", "--address", ray_env.address, "--resources",
               json.dumps(ONE_CPU), env=ray_env.env(sy.home), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "on 2 Ray host(s)" in r.stdout      # the workers ran on the cluster
    local = {p.relative_to(local_out): p.read_bytes() for p in local_out.rglob("*.out")}
    on_ray = {p.relative_to(tmp_path / "ray-out"): p.read_bytes()
              for p in (tmp_path / "ray-out").rglob("*.out")}
    assert len(local) == 5 and on_ray == local
    assert (local_out / "part-3.csv.out").read_text().splitlines() == [
        repr(predict(COEF, BIAS, r)) for r in _rows(3, 350)]


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_a_worker_node_killed_mid_file_fails_that_file_and_resume_redoes_only_it(
        sy, ray_env, model, tmp_path):
    from stackyard.jobs import Transformer
    from stackyard.runtime import use_backend
    from stackyard.transform import TransformError, describe_transform_job, resume_transform_job

    gate, log = tmp_path / "gate", tmp_path / "calls.jsonl"
    folder = tmp_path / "in"
    for k in range(4):
        rows = _rows(k, 300)
        if k == 2:
            rows[150][0] = 999  # the model waits on the gate when it meets this record
        csv_file(folder / f"part-{k}.csv", rows)
    victim = ray_env.cluster.add_node(num_cpus=1, resources={"victim": 1})
    use_backend("ray", ray_env.address, {"*": {"CPU": 1, "victim": 1}})
    out = tmp_path / "out"
    t = Transformer(model, assemble_with="Line", output_path=str(out),
                    env={"TX_LOG": str(log), "TX_GATE": str(gate)})
    failed: list[BaseException] = []

    def transform() -> None:
        try:
            t.transform(str(folder), content_type="text/csv", split_type="Line",
                        job_name="tx-node")
        except BaseException as e:  # noqa: BLE001 - checked below
            failed.append(e)

    thread = threading.Thread(target=transform)
    thread.start()
    job_out = sy.home / "transform" / "tx-node" / "output"
    sy.wait_until(lambda: any(999 in c["first"] for c in calls(log))
                  and (job_out / "part-1.csv.out").exists(), 120,
                  what="the transform to block in part-2.csv")
    ray_env.cluster.remove_node(victim, allow_graceful=False)
    thread.join(timeout=180)
    assert not thread.is_alive()
    assert isinstance(failed[0], TransformError), failed
    assert "part-2.csv" in str(failed[0]) and "Ray node died" in str(failed[0])
    assert describe_transform_job("tx-node")["TransformJobStatus"] == "Failed"
    assert sorted(p.name for p in job_out.iterdir()) == ["part-0.csv.out", "part-1.csv.out"]
    kept = {p.name: _stat(p) for p in job_out.iterdir()}
    assert not out.exists()  # nothing published until every file is done

    ray_env.cluster.add_node(num_cpus=1, resources={"victim": 1})
    gate.touch()
    before = len(calls(log))
    resume_transform_job("tx-node")
    assert {v for c in calls(log)[before:] for v in c["first"]} == {2, 3, 999}
    assert {p.name: _stat(p) for p in job_out.iterdir() if p.name in kept} == kept
    for k in range(4):
        rows = _rows(k, 300)
        if k == 2:
            rows[150][0] = 999
        assert (out / f"part-{k}.csv.out").read_text().splitlines() == [
            repr(predict(COEF, BIAS, r)) for r in rows]
    job_dir = sy.home / "transform" / "tx-node"
    assert not [p for p in job_dir.rglob(".*") if p.name.endswith((".tmp", ".part"))]
