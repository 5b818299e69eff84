"""CacheConfig: a rerun reuses an identical step's outputs; changing the input data, the
code or an argument invalidates the entry."""

from __future__ import annotations

import sqlite3
import sys

import pytest

from stackyard.jobs import Estimator, ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import (
    CacheConfig,
    ParameterString,
    Pipeline,
    ProcessingStep,
    TrainingStep,
    step,
)

PY = ScriptProcessor(command=["python3"])
CACHED = CacheConfig(enable_caching=True, expire_after="P30D")

SCRIPT = """
import pathlib
pathlib.Path(COUNTER).open("a").write("ran\\n")
text = pathlib.Path("/opt/ml/processing/input/in.txt").read_text()
pathlib.Path("/opt/ml/processing/out/out.txt").write_text(TRANSFORM(text))
"""


def _pipeline(sy, transform="str.upper", cache=CACHED, args=None, params=None):
    code = sy.write("code/job.py", SCRIPT.replace("TRANSFORM", transform),
                    COUNTER=str(sy.tmp / "count"))
    s = ProcessingStep(
        "Prep", processor=PY, code=str(code), cache_config=cache, job_arguments=args,
        inputs=[ProcessingInput(source=str(sy.work / "data"),
                                destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])
    return Pipeline("cached", parameters=params or [], steps=[s])


def _run(pipeline, **params):
    ex = pipeline.start(params)
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    (s,) = [s for s in ex.list_steps() if s["StepName"] == "Prep"]
    return ex, s


def _uri(s):
    return s["Metadata"]["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"]["S3Uri"]


def test_a_rerun_hits_the_cache_and_does_not_run_the_script(sy):
    sy.write("data/in.txt", "abc")
    ex1, s1 = _run(_pipeline(sy))
    ex2, s2 = _run(_pipeline(sy))
    assert sy.lines(sy.tmp / "count") == ["ran"]          # the script ran once
    assert s1["CacheHitResult"] is None and s1["AttemptCount"] == 1
    assert s2["CacheHitResult"] is not None
    assert s2["AttemptCount"] == 0
    assert _uri(s2) == _uri(s1)
    d = ex2.describe()
    assert d["steps"][0]["cache_hit"] is True
    assert ex1.describe()["steps"][0]["cache_hit"] is False


def test_changing_the_input_data_or_the_code_invalidates_the_cache(sy):
    sy.write("data/in.txt", "abc")
    _run(_pipeline(sy))
    _, hit = _run(_pipeline(sy))
    assert hit["CacheHitResult"] is not None
    sy.write("data/in.txt", "xyz")                          # same path, new content
    _, miss_data = _run(_pipeline(sy))
    assert miss_data["CacheHitResult"] is None
    assert sy.lines(sy.tmp / "count") == ["ran", "ran"]
    _, hit_again = _run(_pipeline(sy))
    assert hit_again["CacheHitResult"] is not None and _uri(hit_again) == _uri(miss_data)
    _, miss_code = _run(_pipeline(sy, transform="str.lower"))   # same file, new code
    assert miss_code["CacheHitResult"] is None
    assert sy.lines(sy.tmp / "count") == ["ran", "ran", "ran"]
    assert _uri(miss_code) != _uri(miss_data)


def test_a_new_file_in_an_input_folder_invalidates_the_cache(sy):
    sy.write("data/in.txt", "abc")
    _run(_pipeline(sy))
    sy.write("data/extra.csv", "1,2")
    _, s = _run(_pipeline(sy))
    assert s["CacheHitResult"] is None
    assert sy.lines(sy.tmp / "count") == ["ran", "ran"]


def test_a_different_argument_value_invalidates_the_cache(sy):
    sy.write("data/in.txt", "abc")
    mode = ParameterString("Mode", default_value="a")
    p = _pipeline(sy, args=["--mode", mode], params=[mode])
    _run(p, Mode="a")
    _, other = _run(p, Mode="b")
    _, same = _run(p, Mode="a")
    assert other["CacheHitResult"] is None
    assert same["CacheHitResult"] is not None
    assert sy.lines(sy.tmp / "count") == ["ran", "ran"]


def test_caching_is_off_unless_enabled(sy):
    sy.write("data/in.txt", "abc")
    _run(_pipeline(sy, cache=None))
    _, s = _run(_pipeline(sy, cache=None))
    assert s["CacheHitResult"] is None
    _run(_pipeline(sy, cache=CacheConfig(enable_caching=False)))
    assert sy.lines(sy.tmp / "count") == ["ran", "ran", "ran"]


def test_an_expired_entry_is_not_used(sy):
    """Expiry is computed from the recorded end times; the test ages them in SQLite rather
    than waiting on the real clock."""
    sy.write("data/in.txt", "abc")
    hourly = CacheConfig(enable_caching=True, expire_after="PT1H")
    _run(_pipeline(sy, cache=hourly))
    _, hit = _run(_pipeline(sy, cache=hourly))
    assert hit["CacheHitResult"] is not None
    con = sqlite3.connect(str(sy.home / "stackyard.db"), timeout=30)
    with con:                                   # commits
        con.execute("UPDATE steps SET end_time = end_time - 3601")  # an hour and a second ago
    con.close()
    _, miss = _run(_pipeline(sy, cache=hourly))
    assert miss["CacheHitResult"] is None
    assert sy.lines(sy.tmp / "count") == ["ran", "ran"]


def test_cache_entries_are_per_pipeline(sy):
    sy.write("data/in.txt", "abc")
    _run(_pipeline(sy))
    p = _pipeline(sy)
    other = type(p)("other-name", steps=p.steps)
    _, s = _run(other)
    assert s["CacheHitResult"] is None


COUNTS: dict[str, int] = {}


@step(name="Square", cache_config=CACHED)
def square(x):
    COUNTS["square"] = COUNTS.get("square", 0) + 1
    return x * x


def test_step_functions_are_cached_by_their_arguments(sy):
    COUNTS.clear()
    for x in (3, 3, 4, 3):
        ex = Pipeline("squares", steps=[square(x)]).start()
        assert ex.wait() == "Succeeded"
        assert ex.result("Square") == x * x
    assert COUNTS["square"] == 2


@pytest.mark.slow
def test_editing_a_step_function_invalidates_its_cache(sy):
    counter = sy.tmp / "fcount"
    src = """
        from stackyard.workflow import CacheConfig, Pipeline, step

        @step(name="Compute", cache_config=CacheConfig(enable_caching=True))
        def compute():
            open(COUNTER, "a").write("ran\\n")
            return BODY

        pipeline = Pipeline("edit-me", steps=[compute()])
    """
    path = sy.write("pipe.py", src.replace("BODY", "1"), COUNTER=str(counter))
    for _ in range(2):
        r = sy.cli("run", path, "-q")
        assert r.returncode == 0, r.stdout + r.stderr
    assert sy.lines(counter) == ["ran"]
    sy.write("pipe.py", src.replace("BODY", "2"), COUNTER=str(counter))
    r = sy.cli("run", path, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sy.lines(counter) == ["ran", "ran"]
    runs = sy.cli_json("runs", "list")
    last = sy.cli_json("runs", "describe", runs[0]["run_id"])
    assert last["steps"][0]["cache_hit"] is False
    assert last["steps"][0]["outputs"] == {"Result": 2}


def test_a_cached_step_downstream_of_an_uncached_job_hits(sy):
    """Regression: per-run job names of dependencies used to be part of the cache key, so this
    never hit.
    """
    sy.write("data/in.txt", "abc")
    up = sy.write("code/up.py", """
        import pathlib
        pathlib.Path("/opt/ml/processing/out/x.txt").write_text("same every time")
    """)
    down = sy.write("code/down.py", "open(COUNTER, 'a').write('ran\\n')\n",
                    COUNTER=str(sy.tmp / "down"))
    a = ProcessingStep("Up", processor=PY, code=str(up), outputs=[
        ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])
    b = ProcessingStep("Down", processor=PY, code=str(down), cache_config=CACHED, inputs=[
        ProcessingInput(source=a.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri,
                        destination="/opt/ml/processing/input")])
    results = []
    for _ in range(2):
        ex = Pipeline("downstream", steps=[a, b]).start()
        assert ex.wait() == "Succeeded"
        results.append({s["StepName"]: s for s in ex.list_steps()})
    # the upstream output is byte-identical (same content address) in both runs ...
    assert (results[0]["Up"]["Metadata"]["ProcessingOutputConfig"]["Outputs"]["out"]
            == results[1]["Up"]["Metadata"]["ProcessingOutputConfig"]["Outputs"]["out"])
    # ... so the cached downstream step should be reused
    assert results[1]["Down"]["CacheHitResult"] is not None
    assert sy.lines(sy.tmp / "down") == ["ran"]


def test_cache_hit_names_the_source_execution(sy):
    """Regression: CacheHitResult.SourcePipelineExecutionArn used to be always None."""
    sy.write("data/in.txt", "abc")
    ex1, _ = _run(_pipeline(sy))
    _, s2 = _run(_pipeline(sy))
    assert s2["CacheHitResult"] == {"SourcePipelineExecutionArn": ex1.arn}


def test_a_missing_input_fails_the_same_way_with_caching_on(sy):
    """Regression: with caching on, a missing input used to fail as 'internal error:
    NotFoundError'.
    """
    reasons = {}
    for cache in (None, CACHED):
        code = sy.write("code/noop.py", "print('never')\n")
        s = ProcessingStep("Prep", processor=PY, code=str(code), cache_config=cache,
                           inputs=[ProcessingInput(source=str(sy.work / "absent"),
                                                   destination="/opt/ml/processing/input")])
        ex = Pipeline("missing-input", steps=[s]).start()
        assert ex.wait() == "Failed"
        reasons[cache is not None] = ex.list_steps()[0]["FailureReason"]
    assert reasons[False].startswith("cannot fetch input")
    assert reasons[True].startswith("cannot fetch input")


CODE_HASH_BUG = (
    "BUG: the cache key hashes a training step's whole source_dir with "
    "artifacts.content_hash (src/stackyard/engine/_runner.py:174-178, Runner._cache_key: "
    "`inputs.append(('code', req['Code']['SourceDir']))`) without the exclusions used when "
    "the code is copied (artifacts/_code.py ignore_in_code skips .venv, .git, __pycache__, "
    ".stackyard and the state folder). So {}. Fix: hash the code folder with the same "
    "ignore rules as the copy (a dedicated code digest), never the state folder.")


def test_a_cached_training_step_with_a_venv_in_its_source_dir(sy):
    sy.write("proj/train.py", """
        import os, pathlib
        pathlib.Path(os.environ["SM_MODEL_DIR"], "m.txt").write_text("m")
        open(COUNTER, "a").write("ran\\n")
    """, COUNTER=str(sy.tmp / "count"))
    (sy.work / "proj" / ".venv" / "bin").mkdir(parents=True)
    (sy.work / "proj" / ".venv" / "bin" / "python").symlink_to(sys.executable)
    t = TrainingStep("Train", cache_config=CACHED, estimator=Estimator(
        entry_point="train.py", source_dir=str(sy.work / "proj")))
    for _ in range(2):
        ex = Pipeline("venv-in-source", steps=[t]).start()
        assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert ex.list_steps()[0]["CacheHitResult"] is not None
    assert sy.lines(sy.tmp / "count") == ["ran"]


def test_a_cached_training_step_with_the_state_folder_in_its_source_dir(sy, monkeypatch):
    sy.write("proj/train.py", """
        import os, pathlib
        pathlib.Path(os.environ["SM_MODEL_DIR"], "m.txt").write_text("m")
        open(COUNTER, "a").write("ran\\n")
    """, COUNTER=str(sy.tmp / "count"))
    monkeypatch.setenv("STACKYARD_HOME", str(sy.work / "proj" / ".stackyard"))
    t = TrainingStep("Train", cache_config=CACHED, estimator=Estimator(
        entry_point="train.py", source_dir=str(sy.work / "proj")))
    for _ in range(2):
        ex = Pipeline("home-in-source", steps=[t]).start()
        assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert ex.list_steps()[0]["CacheHitResult"] is not None
    assert sy.lines(sy.tmp / "count") == ["ran"]


def test_a_cached_step_whose_input_folder_has_a_symlink(sy):
    sy.write("data/real.txt", "abc")
    (sy.work / "data" / "in.txt").symlink_to(sy.work / "data" / "real.txt")
    for _ in range(2):
        _run(_pipeline(sy))
    assert sy.lines(sy.tmp / "count") == ["ran"]
