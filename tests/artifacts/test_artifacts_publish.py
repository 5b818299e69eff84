"""Publishing adds the artifact's own keys and never removes or replaces anything else,
the way S3 behaves: a user's files and other jobs' outputs survive."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import fsspec
import pytest

from stackyard import artifacts
from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs import Estimator, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_publish_adds_files_and_keeps_what_is_there(sy) -> None:
    dest = sy.tmp / "My Projects ü" / "out"          # a space and non-ASCII in the path
    _tree(dest, {"thesis.txt": "years of work", "shared/keep.csv": "1"})
    first = artifacts.put_tree(_tree(sy.tmp / "a", {"shared/a.csv": "a", "x.txt": "old"}))
    second = artifacts.put_tree(_tree(sy.tmp / "b", {"shared/b.csv": "b", "x.txt": "new"}))
    artifacts.publish(first, artifacts.to_uri(dest))
    artifacts.publish(second, str(dest))
    assert (dest / "thesis.txt").read_text() == "years of work"
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "shared/a.csv", "shared/b.csv", "shared/keep.csv", "thesis.txt", "x.txt"]
    assert (dest / "x.txt").read_text() == "new"                     # its own key: replaced
    assert (dest / "x.txt").stat().st_mode & stat.S_IWUSR            # a writable copy
    assert not list(dest.rglob(".*"))                                # no temp litter


def test_publish_refuses_the_artifact_store_and_a_file_in_the_way(sy) -> None:
    uri = artifacts.put_tree(_tree(sy.tmp / "t", {"sub/f.txt": "x"}))
    with pytest.raises(UsageError, match="inside the artifact store"):
        artifacts.publish(uri, str(sy.home / "artifacts" / "trees" / "x"))
    (sy.tmp / "dest").mkdir()
    (sy.tmp / "dest" / "sub").write_text("a file where a folder is needed")
    with pytest.raises(UsageError, match="cannot publish sub/f.txt"):
        artifacts.publish(uri, str(sy.tmp / "dest"))
    assert (sy.tmp / "dest" / "sub").read_text() == "a file where a folder is needed"


def test_publish_to_an_fsspec_destination_only_adds_keys(sy) -> None:
    fs = fsspec.filesystem("memory")
    root = f"/stackyard-publish-{os.getpid()}"
    fs.pipe(f"{root}/out/other.txt", b"someone else's")
    try:
        uri = artifacts.put_tree(_tree(sy.tmp / "t", {"m/model.tar.gz": "m"}))
        artifacts.publish(uri, f"memory://{root}/out")
        assert fs.cat(f"{root}/out/other.txt") == b"someone else's"
        assert fs.cat(f"{root}/out/m/model.tar.gz") == b"m"
    finally:
        fs.rm(root, recursive=True)


def test_concurrent_publishes_to_one_destination(sy) -> None:
    uris = [artifacts.put_tree(_tree(sy.tmp / f"src{k}", {f"f{i}.txt": str(k) * 5000
                                                          for i in range(20)}))
            for k in range(4)]
    dest = sy.tmp / "out" / "dest"
    errors: list[str] = []

    def publish(uri: str) -> None:
        for _ in range(5):
            try:
                artifacts.publish(uri, str(dest))
            except Exception as e:  # noqa: BLE001 - collected for the assertion
                errors.append(repr(e))

    threads = [threading.Thread(target=publish, args=(u,)) for u in uris]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"f{i}.txt" for i in range(20))
    for p in dest.iterdir():                  # each file whole: one writer's, never a mix
        text = p.read_text()
        assert len(text) == 5000 and len(set(text)) == 1


TRAIN = """
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write("weights")
"""


def test_two_training_jobs_share_an_output_path_and_keep_the_users_files(sy) -> None:
    out = sy.work / "out"
    _tree(out, {"thesis.txt": "years of work"})
    code = sy.write("train.py", TRAIN)
    models = []
    for _ in range(2):
        est = Estimator(entry_point=str(code), output_path=str(out))
        job = est.fit()
        models.append(job)
    assert (out / "thesis.txt").read_text() == "years of work"
    published = sorted(p.relative_to(out).as_posix() for p in out.rglob("model.tar.gz"))
    assert len(published) == 2 and all(p.endswith("/output/model.tar.gz") for p in published)
    assert published[0].split("/")[0] != published[1].split("/")[0]


WRITER = """
import pathlib
pathlib.Path("/opt/ml/processing/out/result.txt").write_text("constant result")
"""


def test_a_processing_destination_keeps_the_users_other_files(sy) -> None:
    dest = sy.tmp / "exported"
    _tree(dest, {"notes.md": "mine", "result.txt": "stale"})
    code = sy.write("code/writer.py", WRITER)
    ex = Pipeline("writer", steps=[ProcessingStep(
        "Write", processor=ScriptProcessor(command=["python3"]), code=str(code),
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out",
                                  destination=str(dest))])]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert (dest / "notes.md").read_text() == "mine"
    assert (dest / "result.txt").read_text() == "constant result"


def test_a_destination_that_is_a_file_is_refused_before_anything_runs(sy) -> None:
    blocked = sy.tmp / "blocked"
    blocked.write_text("a file, not a folder")
    code = sy.write("train.py", TRAIN)
    with pytest.raises(DefinitionError, match="output_path .* is a file"):
        Estimator(entry_point=str(code), output_path=str(blocked)).fit()
    with pytest.raises(DefinitionError, match="destination .* is a file"):
        ScriptProcessor(command=["python3"]).run(
            code=str(code), outputs=[ProcessingOutput(source="/opt/ml/processing/out",
                                                      destination=str(blocked))])
    sy.assert_nothing_written()
    assert blocked.read_text() == "a file, not a folder"


def test_a_destination_that_cannot_take_the_output_fails_the_step_cleanly(sy) -> None:
    dest = sy.tmp / "blocked"
    (dest / "result.txt").mkdir(parents=True)     # a folder where the output has a file
    code = sy.write("code/writer.py", WRITER)
    ex = Pipeline("writer", steps=[ProcessingStep(
        "Write", processor=ScriptProcessor(command=["python3"]), code=str(code),
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out",
                                  destination=str(dest))])]).start()
    assert ex.wait() == "Failed"
    reason = ex.list_steps()[0]["FailureReason"]
    assert "cannot publish result.txt" in reason and not reason.startswith("internal error")
    assert (dest / "result.txt").is_dir()
