"""What survives a bad record, a ``kill -9`` and a second process: finished files are never
redone, no half-written ``.out`` is ever visible, and models that may not transform are
refused before anything is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from transform_helpers import BIAS, COEF, calls, csv_file, predict

from stackyard.errors import UsageError
from stackyard.jobs import Model, Transformer
from stackyard.transform import (
    TransformError,
    describe_transform_job,
    resume_transform_job,
)


def _rows(file_index: int, n: int) -> list[list[int]]:
    """Rows whose first column names their file, so the call log says what was redone."""
    return [[file_index, i % 10, i % 3] for i in range(n)]


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_a_bad_record_fails_its_file_at_file_line_others_finish_resume_redoes_only_it(
        tmp_path: Path, model_name: str, tx_log: Path, sy) -> None:
    folder = tmp_path / "in"
    csv_file(folder / "part-00.csv", _rows(0, 500))
    rows = _rows(1, 100_000)  # 1.2 MB: two units with two workers; the bad line is in the second
    rows[89_999] = [1, 2]
    big = csv_file(folder / "part-01.csv", rows)
    csv_file(folder / "part-02.csv", _rows(2, 500))
    out = tmp_path / "out"
    t = Transformer(model_name, instance_count=2, assemble_with="Line", output_path=str(out))
    with pytest.raises(TransformError) as e:
        t.transform(str(folder), content_type="text/csv", split_type="Line", job_name="tx-bad")
    assert str(e.value) == ("transform job tx-bad failed: part-01.csv:90000: expected 3 "
                            "features per row, got 2")
    job = describe_transform_job("tx-bad")
    assert job["TransformJobStatus"] == "Failed" and "part-01.csv:90000" in job["FailureReason"]
    done = Path(job["JobDir"]) / "output"
    assert sorted(p.name for p in done.iterdir()) == ["part-00.csv.out", "part-02.csv.out"]
    assert not out.exists()  # nothing published until every file is done
    kept = {p.name: _stat(p) for p in done.iterdir()}

    rows[89_999] = [1, 2, 3]
    csv_file(big, rows)
    tx_log.unlink()
    result = resume_transform_job("tx-bad")
    assert {v for c in calls(tx_log) for v in c["first"]} == {1}  # only the failed file ran
    assert {p.name: _stat(p) for p in done.iterdir() if p.name in kept} == kept
    assert result["TransformOutput"]["S3OutputPath"] == out.resolve().as_uri()
    got = (out / "part-01.csv.out").read_text().splitlines()
    assert got == [repr(predict(COEF, BIAS, r)) for r in rows]
    assert describe_transform_job("tx-bad")["TransformJobStatus"] == "Completed"
    # a completed job asked for again gives its result back without running anything
    tx_log.unlink()
    assert resume_transform_job("tx-bad") == result
    assert not tx_log.exists()
    assert sy.db_query("SELECT COUNT(*) FROM transform_jobs") == [(1,)]


def test_kill_9_mid_transform_then_resume_redoes_no_finished_file(
        tmp_path: Path, model_name: str, tx_log: Path, monkeypatch: pytest.MonkeyPatch,
        sy) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("TX_GATE", str(gate))
    folder = tmp_path / "in"
    for k in range(4):
        rows = _rows(k, 300)
        if k == 2:
            rows[150][0] = 999  # the model waits on the gate when it meets this record
        csv_file(folder / f"part-{k}.csv", rows)
    out = tmp_path / "out"
    script = sy.write("run_transform.py", """
        from stackyard.jobs import Transformer
        Transformer(MODEL, assemble_with="Line", output_path=OUT).transform(
            DATA, content_type="text/csv", split_type="Line", job_name="tx-kill")
        """, MODEL=model_name, OUT=str(out), DATA=str(folder))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=sy.work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job_out = sy.home / "transform" / "tx-kill" / "output"
        blocked = sy.wait_until(lambda: [c for c in calls(tx_log) if 999 in c["first"]]
                                and (job_out / "part-1.csv.out").exists() and calls(tx_log),
                                timeout=60, what="the transform to block in part-2.csv")
        worker = next(c["pid"] for c in blocked if 999 in c["first"])
        with pytest.raises(UsageError, match="tx-kill is running in another process"):
            resume_transform_job("tx-kill")  # a second process never drives the same job
        assert describe_transform_job("tx-kill")["TransformJobStatus"] == "InProgress"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sy.wait_until(lambda: not sy.pid_alive(worker), timeout=30, what="the worker to die")
    assert sorted(p.name for p in job_out.iterdir()) == ["part-0.csv.out", "part-1.csv.out"]
    kept = {p.name: _stat(p) for p in job_out.iterdir()}
    assert not out.exists()
    before = len(calls(tx_log))

    gate.touch()
    resume_transform_job("tx-kill")
    redone = {v for c in calls(tx_log)[before:] for v in c["first"]}
    assert redone == {2, 3, 999}  # part-0 and part-1 were not transformed again
    assert {p.name: _stat(p) for p in job_out.iterdir() if p.name in kept} == kept
    for k in range(4):
        rows = _rows(k, 300)
        if k == 2:
            rows[150][0] = 999
        got = (out / f"part-{k}.csv.out").read_text().splitlines()
        assert got == [repr(predict(COEF, BIAS, r)) for r in rows]
    job_dir = sy.home / "transform" / "tx-kill"
    assert not [p for p in job_dir.rglob("*") if p.name.endswith(".tmp")]


def test_a_rejected_version_is_refused_before_anything_is_written(register, tmp_path: Path,
                                                                  sy) -> None:
    from stackyard.registry import ModelRegistry

    ref = register("Rejected")
    with pytest.raises(UsageError, match=f"{ref} is Rejected and cannot be used for batch "
                                         "transform"):
        Transformer(ref)
    pipeline_file = sy.write("batch.py", """
        from stackyard.jobs import Transformer
        from stackyard.workflow import PipelineSession
        transformer = Transformer(REF, sagemaker_session=PipelineSession())
        """, REF=ref)
    r = sy.cli("run", str(pipeline_file))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{ref} is Rejected" in r.stderr and "Traceback" not in r.stderr
    # approved when the transformer was made, rejected before it ran: still refused
    good = register("Approved")
    t = Transformer(good, output_path=str(tmp_path / "out"))
    ModelRegistry().update_approval(good, "Rejected", comment="drift")
    data = csv_file(tmp_path / "in.csv", _rows(0, 3))
    with pytest.raises(UsageError, match=f"{good} is Rejected"):
        t.transform(str(data), job_name="tx-rejected")
    assert sy.db_query("SELECT COUNT(*) FROM transform_jobs") == [(0,)]
    assert sy.db_counts()["runs"] == 0
    assert not (sy.home / "transform").exists() and not (tmp_path / "out").exists()


def test_a_pending_version_needs_allow_unapproved(register, tmp_path: Path) -> None:
    ref = register("PendingManualApproval")
    with pytest.raises(UsageError, match="allow_unapproved=True"):
        Transformer(ref)
    data = csv_file(tmp_path / "in.csv", _rows(0, 3))
    Transformer(ref, allow_unapproved=True, output_path=str(tmp_path / "out")).transform(
        str(data), split_type="Line")
    assert (tmp_path / "out" / "in.csv.out").read_text().splitlines() == [
        repr(predict(COEF, BIAS, r)) for r in _rows(0, 3)]


def test_names_are_not_reused_for_other_work(tmp_path: Path, model_name: str) -> None:
    from transform_helpers import write_model

    tar, code = write_model(tmp_path / "other", [3.0, 2.0, 1.0], 0.0)
    with pytest.raises(UsageError, match="a different model named 'linear' exists"):
        Model(model_data=str(tar), entry_point="inference.py", source_dir=str(code),
              name="linear").create()
    same = tmp_path / "model"  # the fixture's model, created again: a no-op
    assert Model(model_data=str(same / "model.tar.gz"), entry_point="inference.py",
                 source_dir=str(same / "code"), name="linear").create() == "linear"
    with pytest.raises(UsageError, match="no model named 'nope'"):
        Transformer("nope")
    data = csv_file(tmp_path / "in.csv", _rows(0, 3))
    t = Transformer(model_name, output_path=str(tmp_path / "out"))
    t.transform(str(data), split_type="Line", job_name="tx-once")
    with pytest.raises(UsageError, match="a transform job named tx-once exists with other "
                                         "arguments"):
        t.transform(str(data), split_type="None", job_name="tx-once")


def test_a_model_that_cannot_load_fails_the_job_and_writes_no_output(tmp_path: Path,
                                                                    sy) -> None:
    from transform_helpers import write_model

    tar, code = write_model(tmp_path / "broken", COEF, BIAS)
    (code / "inference.py").write_text("def model_fn(model_dir):\n"
                                       "    raise RuntimeError('weights are corrupt')\n")
    name = Model(model_data=str(tar), entry_point="inference.py", source_dir=str(code),
                 name="broken").create()
    data = csv_file(tmp_path / "in.csv", _rows(0, 3))
    with pytest.raises(TransformError, match="the model failed to load: RuntimeError: "
                                             "weights are corrupt"):
        Transformer(name, output_path=str(tmp_path / "out")).transform(
            str(data), split_type="Line", job_name="tx-broken")
    assert describe_transform_job("tx-broken")["TransformJobStatus"] == "Failed"
    assert not (tmp_path / "out").exists()
    assert not list((sy.home / "transform" / "tx-broken" / "output").iterdir())
