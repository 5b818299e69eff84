"""Artifacts are content-addressed, read-only, and written atomically."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import fsspec
import pytest

from stackyard import artifacts
from stackyard.errors import IntegrityError, NotFoundError, UsageError
from stackyard.jobs import ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def _writable_bits(path: Path) -> list[Path]:
    return [p for p in [path, *path.rglob("*")] if p.stat().st_mode & 0o222]


def test_identical_trees_share_one_address(sy):
    a = artifacts.put_tree(_tree(sy.tmp / "a", {"x.txt": "1", "d/y.txt": "2"}))
    b = artifacts.put_tree(_tree(sy.tmp / "b", {"d/y.txt": "2", "x.txt": "1"}))
    c = artifacts.put_tree(_tree(sy.tmp / "c", {"x.txt": "1", "d/y.txt": "3"}))
    d = artifacts.put_tree(_tree(sy.tmp / "d", {"x.txt": "1", "d/z.txt": "2"}))  # renamed
    assert a == b
    assert len({a, c, d}) == 3
    assert a.startswith("file://") and "/artifacts/trees/" in a
    stored = artifacts.uri_to_path(a)
    assert stored.name == artifacts.content_hash(a)
    assert (stored / "d" / "y.txt").read_text() == "2"


def test_stored_artifacts_are_read_only(sy):
    tree = artifacts.uri_to_path(artifacts.put_tree(_tree(sy.tmp / "t", {"a/b.txt": "x"})))
    assert _writable_bits(tree) == []
    obj = artifacts.uri_to_path(artifacts.put_bytes(b"payload", "blob.bin"))
    assert not obj.stat().st_mode & 0o222
    if os.geteuid() != 0:  # the bits are a real guard for ordinary users
        with pytest.raises(PermissionError):
            (tree / "a" / "b.txt").write_text("changed")


def test_files_are_addressed_by_their_sha256(sy):
    src = sy.tmp / "f.bin"
    src.write_bytes(b"hello")
    uri = artifacts.put_file(src)
    path = artifacts.uri_to_path(uri)
    assert path.name == "f.bin"
    assert path.parent.name == artifacts.sha256_file(src)
    assert artifacts.put_bytes(b"hello", "other.bin") == uri   # first name wins
    assert artifacts.content_hash(uri) == artifacts.sha256_file(src)
    assert artifacts.verify(uri) == path


def test_verify_detects_tampering(sy):
    uri = artifacts.put_tree(_tree(sy.tmp / "t", {"x.txt": "original"}))
    path = artifacts.uri_to_path(uri)
    assert artifacts.verify(uri) == path
    f = path / "x.txt"
    f.chmod(0o644)
    f.write_text("tampered")
    with pytest.raises(IntegrityError):
        artifacts.verify(uri)
    outside = _tree(sy.tmp / "outside", {"x.txt": "x"})
    with pytest.raises(IntegrityError, match="not in the artifact store"):
        artifacts.verify(outside.as_uri())


def test_content_hash_of_local_inputs(sy):
    d = _tree(sy.tmp / "d", {"a.txt": "1"})
    h1 = artifacts.content_hash(str(d))
    assert artifacts.content_hash(d.as_uri()) == h1
    (d / "a.txt").write_text("2")
    assert artifacts.content_hash(str(d)) != h1
    with pytest.raises(NotFoundError):
        artifacts.content_hash(str(sy.tmp / "absent"))


def test_fetch_gives_a_writable_copy_of_a_frozen_tree(sy):
    uri = artifacts.put_tree(_tree(sy.tmp / "t", {"a/b.txt": "x", "c.txt": "y"}))
    dest = sy.tmp / "dest"
    artifacts.fetch(uri, dest)
    assert (dest / "a" / "b.txt").read_text() == "x"
    assert all(p.stat().st_mode & stat.S_IWUSR for p in [dest, *dest.rglob("*")])
    (dest / "c.txt").write_text("changed")                 # the copy is the job's own
    assert (artifacts.uri_to_path(uri) / "c.txt").read_text() == "y"
    single = sy.tmp / "one.csv"
    single.write_text("1,2")
    artifacts.fetch(single.as_uri(), sy.tmp / "dest2")
    assert (sy.tmp / "dest2" / "one.csv").read_text() == "1,2"
    with pytest.raises(NotFoundError):
        artifacts.fetch(str(sy.tmp / "absent"), sy.tmp / "dest3")


def test_symbolic_links_are_followed_like_the_copy_does(sy):
    d = _tree(sy.tmp / "s", {"real.txt": "x"})
    (d / "link.txt").symlink_to(d / "real.txt")
    stored = artifacts.uri_to_path(artifacts.put_tree(d))
    assert not (stored / "link.txt").is_symlink()
    assert (stored / "link.txt").read_text() == "x"
    assert artifacts.content_hash(str(d)) == stored.name


def test_uris(sy):
    p = sy.tmp / "with space" / "f.txt"
    p.parent.mkdir()
    p.write_text("x")
    uri = artifacts.to_uri(p)
    assert "%20" in uri
    assert artifacts.uri_to_path(uri) == p
    assert artifacts.is_remote("s3://bucket/key") and artifacts.is_remote("memory://x")
    assert not artifacts.is_remote(uri) and not artifacts.is_remote("/tmp/x")
    with pytest.raises(UsageError):
        artifacts.uri_to_path("s3://bucket/key")


def test_no_partial_artifacts_are_left_behind(sy):
    for i in range(3):
        artifacts.put_tree(_tree(sy.tmp / f"t{i}", {"x.txt": str(i)}))
        artifacts.put_bytes(str(i).encode(), "b.bin")
    staging = sy.home / "artifacts" / "tmp"
    assert not staging.exists() or list(staging.iterdir()) == []


# ---- artifacts through pipelines -------------------------------------------------------
WRITER = """
import pathlib, sys
pathlib.Path("/opt/ml/processing/out/result.txt").write_text("constant result")
"""


def _writer_pipeline(sy, dest: Path | None = None) -> Pipeline:
    code = sy.write("code/writer.py", WRITER)
    return Pipeline("writer", steps=[ProcessingStep(
        "Write", processor=ScriptProcessor(command=["python3"]), code=str(code),
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out",
                                  destination=str(dest) if dest else None)])])


def _out(ex) -> dict:
    return ex.list_steps()[0]["Metadata"]["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"]


def test_two_runs_with_identical_outputs_share_one_uri(sy):
    first = _writer_pipeline(sy).start()
    second = _writer_pipeline(sy).start()
    assert first.wait() == second.wait() == "Succeeded"
    assert first.run_id != second.run_id
    assert _out(first)["S3Uri"] == _out(second)["S3Uri"]
    stored = artifacts.uri_to_path(_out(first)["S3Uri"])
    assert _writable_bits(stored) == []
    assert len(list((sy.home / "artifacts" / "trees").iterdir())) == 1


def test_an_output_destination_receives_a_copy(sy):
    dest = sy.tmp / "exported" / "out"
    ex = _writer_pipeline(sy, dest).start()
    assert ex.wait() == "Succeeded"
    out = _out(ex)
    assert out["Destination"] == dest.as_uri()
    assert out["S3Uri"] != dest.as_uri() and "/artifacts/trees/" in out["S3Uri"]
    assert (dest / "result.txt").read_text() == "constant result"
    (dest / "result.txt").write_text("edited by the user")          # a writable copy ...
    stored = artifacts.uri_to_path(out["S3Uri"]) / "result.txt"
    assert stored.read_text() == "constant result"                  # ... not the artifact
    assert artifacts.verify(out["S3Uri"])


def test_file_uris_work_as_inputs(sy):
    _tree(sy.work / "in dir", {"a.txt": "from a file uri"})
    single = sy.work / "single.csv"
    single.write_text("1,2,3")
    code = sy.write("code/reader.py", """
        import pathlib
        a = pathlib.Path("/opt/ml/processing/folder/a.txt").read_text()
        b = pathlib.Path("/opt/ml/processing/file/single.csv").read_text()
        pathlib.Path("/opt/ml/processing/out/both.txt").write_text(a + "|" + b)
    """)
    s = ProcessingStep("Read", processor=ScriptProcessor(command=["python3"]), code=str(code),
                       inputs=[ProcessingInput(source=(sy.work / "in dir").as_uri(),
                                               destination="/opt/ml/processing/folder"),
                               ProcessingInput(source=single.as_uri(),
                                               destination="/opt/ml/processing/file")],
                       outputs=[ProcessingOutput(output_name="out",
                                                 source="/opt/ml/processing/out")])
    ex = Pipeline("file-uris", steps=[s]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert (artifacts.uri_to_path(_out(ex)["S3Uri"]) / "both.txt").read_text() == \
        "from a file uri|1,2,3"


def test_an_artifact_uri_from_an_earlier_run_works_as_an_input(sy):
    first = _writer_pipeline(sy).start()
    assert first.wait() == "Succeeded"
    code = sy.write("code/reuse.py", """
        import pathlib
        text = pathlib.Path("/opt/ml/processing/in/result.txt").read_text()
        pathlib.Path("/opt/ml/processing/in/result.txt").write_text("scribbled")  # own copy
        pathlib.Path("/opt/ml/processing/out/again.txt").write_text(text.upper())
    """)
    uri = _out(first)["S3Uri"]
    ex = Pipeline("reuse", steps=[ProcessingStep(
        "Reuse", processor=ScriptProcessor(command=["python3"]), code=str(code),
        inputs=[ProcessingInput(source=uri, destination="/opt/ml/processing/in")],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert (artifacts.uri_to_path(_out(ex)["S3Uri"]) / "again.txt").read_text() == \
        "CONSTANT RESULT"
    assert artifacts.verify(uri)        # the job's writes never reached the stored artifact


def test_fsspec_memory_uris_work_as_inputs(sy):
    fs = fsspec.filesystem("memory")
    fs.pipe(f"/stackyard-test-{os.getpid()}/data/m.txt", b"from memory")
    code = sy.write("code/mem.py", """
        import pathlib
        text = pathlib.Path("/opt/ml/processing/in/m.txt").read_text()
        pathlib.Path("/opt/ml/processing/out/m.txt").write_text(text)
    """)
    ex = Pipeline("memory", steps=[ProcessingStep(
        "Mem", processor=ScriptProcessor(command=["python3"]), code=str(code),
        inputs=[ProcessingInput(source=f"memory://stackyard-test-{os.getpid()}/data",
                                destination="/opt/ml/processing/in")],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])]).start()
    try:
        assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
        assert (artifacts.uri_to_path(_out(ex)["S3Uri"]) / "m.txt").read_text() == "from memory"
    finally:
        fs.rm(f"/stackyard-test-{os.getpid()}", recursive=True)


def test_a_symlink_in_an_output_fails_the_step_cleanly(sy):
    code = sy.write("code/link.py", """
        import os
        open("/opt/ml/processing/out/model-v3.bin", "w").write("weights")
        os.symlink("model-v3.bin", "/opt/ml/processing/out/latest")
    """)
    ex = Pipeline("symlink", steps=[ProcessingStep(
        "Link", processor=ScriptProcessor(command=["python3"]), code=str(code),
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])]).start()
    status = ex.wait()
    if status == "Succeeded":     # links followed: the content must be there
        out = artifacts.uri_to_path(_out(ex)["S3Uri"])
        assert (out / "latest").read_text() == "weights"
        return
    reason = ex.list_steps()[0]["FailureReason"]
    assert "symbolic link" in reason
    assert not reason.startswith("internal error"), reason
