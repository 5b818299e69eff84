"""`stackyard runs ...` and `stackyard pipelines ...`: the read commands and their JSON."""

from __future__ import annotations

import pytest

from stackyard import engine
from stackyard.cli._runs import load_pipeline

PIPELINE = """
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import ParameterString, Pipeline, ProcessingStep, RetryPolicy

who = ParameterString("Who", default_value="world")
pipeline = Pipeline(NAME, parameters=[who], steps=[ProcessingStep(
    "Greet", processor=ScriptProcessor(command=["python3"]), code=CODE, job_arguments=[who],
    retry_policies=[RetryPolicy(exception_types=["JobError"], interval_seconds=0,
                                max_attempts=1)])])
"""

GREET = """
import pathlib, sys
p = pathlib.Path(COUNTER)
n = len(p.read_text().splitlines()) + 1 if p.exists() else 1
p.write_text("x\\n" * n)
print(f"hello {sys.argv[1]} attempt {n}")
if n == 1 and FLAKY:
    sys.exit(1)
"""


def _pipeline(sy, name="greeter", flaky=False, file="greet.py"):
    code = sy.write(f"code/{file}", GREET, COUNTER=str(sy.tmp / f"count-{file}"), FLAKY=flaky)
    return sy.write(f"pipe_{file}", PIPELINE, NAME=name, CODE=str(code))


def _run(sy, path, **params):
    """Run the pipeline FILE in this process (what `stackyard run` does, minus the
    process start-up: these tests are about the read commands)."""
    ex = load_pipeline(path).start(params)
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    return ex.run_id


def test_runs_list_json_fields_order_and_filter(sy):
    first = _run(sy, _pipeline(sy, "alpha", file="a.py"))
    second = _run(sy, _pipeline(sy, "beta", file="b.py"))
    rows = sy.cli_json("runs", "list")
    assert [r["run_id"] for r in rows] == [second, first]          # newest first
    for r in rows:
        assert set(r) == {"run_id", "pipeline", "status", "start_time", "end_time"}
        assert r["status"] == "Succeeded"
        assert isinstance(r["start_time"], float) and r["end_time"] >= r["start_time"]
    assert [r["pipeline"] for r in rows] == ["beta", "alpha"]
    only = sy.cli_json("runs", "list", "--pipeline", "alpha")
    assert [r["run_id"] for r in only] == [first]
    limited = sy.cli_json("runs", "list", "--limit", "1")
    assert [r["run_id"] for r in limited] == [second]
    table = sy.cli("runs", "list")
    assert table.returncode == 0 and first in table.stdout and second in table.stdout


def test_runs_describe_json_fields(sy):
    run_id = _run(sy, _pipeline(sy), Who="there")
    d = sy.cli_json("runs", "describe", run_id)
    assert {"run_id", "pipeline", "status", "parameters", "start_time", "end_time",
            "failure_reason", "steps"} <= set(d)
    assert d["run_id"] == run_id and d["pipeline"] == "greeter"
    assert d["status"] == "Succeeded" and d["failure_reason"] is None
    assert d["parameters"] == {"Who": "there"}
    (s,) = d["steps"]
    assert set(s) >= {"name", "status", "attempts", "cache_hit", "start_time", "end_time",
                      "outputs", "failure_reason"}
    assert (s["name"], s["status"], s["attempts"], s["cache_hit"]) == ("Greet", "Succeeded", 1,
                                                                      False)
    assert s["outputs"]["ProcessingJobStatus"] == "Completed"
    text = sy.cli("runs", "describe", run_id)
    assert text.returncode == 0
    assert "Greet" in text.stdout and "Succeeded" in text.stdout and "there" in text.stdout


def test_runs_logs_prints_every_attempt(sy):
    run_id = _run(sy, _pipeline(sy, flaky=True))
    assert engine.describe_run(run_id)["steps"][0]["attempts"] == 2
    r = sy.cli("runs", "logs", run_id)
    assert r.returncode == 0, r.stderr
    assert "hello world attempt 1" in r.stdout and "hello world attempt 2" in r.stdout
    assert r.stdout.index("Greet attempt 1") < r.stdout.index("Greet attempt 2")
    r = sy.cli("runs", "logs", run_id, "Greet")
    assert r.returncode == 0 and "attempt 2" in r.stdout
    r = sy.cli("runs", "logs", run_id, "NoSuchStep")
    assert r.returncode == 2


@pytest.mark.parametrize("command", [["runs", "describe"], ["runs", "logs"], ["runs", "resume"],
                                     ["runs", "stop"]])
def test_an_unknown_run_id_exits_2(sy, command):
    r = sy.cli(*command, "20990101-000000-ffffff")
    assert r.returncode == 2
    assert "no run" in r.stderr


@pytest.mark.slow
def test_pipelines_list_and_describe(sy):
    path = _pipeline(sy, "versioned")
    _run(sy, path)
    _run(sy, path)                               # same definition: same version
    rows = sy.cli_json("pipelines", "list")
    assert [(r["name"], r["latest_version"], r["runs"]) for r in rows] == [("versioned", 1, 2)]
    code = sy.tmp / "work" / "code" / "greet.py"
    sy.write("pipe_greet.py", PIPELINE.replace('job_arguments=[who]',
                                               'job_arguments=[who, "--extra"]'),
             NAME="versioned", CODE=str(code))
    _run(sy, path)
    d = sy.cli_json("pipelines", "describe", "versioned")
    assert d["name"] == "versioned" and d["latest_version"] == 2
    assert [v["version"] for v in d["versions"]] == [1, 2]
    args = d["versions"][1]["definition"]["Steps"][0]["Arguments"]["AppSpecification"][
        "ContainerArguments"]
    assert args == [{"Get": "Parameters.Who"}, "--extra"]
    versions = [engine.describe_run(r["run_id"]).get("pipeline_version")
                for r in engine.list_runs()]
    assert versions == [2, 1, 1]
    table = sy.cli("pipelines", "describe", "versioned")
    assert table.returncode == 0 and "Greet" in table.stdout
    r = sy.cli("pipelines", "describe", "nope")
    assert r.returncode == 2 and "no pipeline" in r.stderr


def test_resume_of_a_failed_run_through_the_cli(sy):
    flag = sy.tmp / "flag"
    flag.write_text("fail")
    code = sy.write("code/gate.py", """
        import os, sys
        open(COUNT, "a").write("ran\\n")
        if os.path.exists(FLAG):
            sys.exit("gate closed")
    """, FLAG=str(flag), COUNT=str(sy.tmp / "gate-count"))
    path = sy.write("gate.py", """
        from stackyard.jobs import ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        pipeline = Pipeline("gate", steps=[ProcessingStep(
            "Gate", processor=ScriptProcessor(command=["python3"]), code=CODE)])
    """, CODE=str(code))
    r = sy.cli("run", path, "-q")
    assert r.returncode == 1
    assert "gate closed" in r.stdout + r.stderr
    run_id = engine.list_runs()[0]["run_id"]
    flag.unlink()
    r = sy.cli("runs", "resume", run_id, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    d = engine.describe_run(run_id)
    assert d["status"] == "Succeeded" and d["failure_reason"] is None
    assert d["steps"][0]["status"] == "Succeeded"
    assert sy.lines(sy.tmp / "gate-count") == ["ran", "ran"]
    assert len(engine.list_runs()) == 1                   # the same run, not a new one
    r = sy.cli("runs", "resume", run_id)                 # nothing left to do
    assert r.returncode == 0
    assert sy.lines(sy.tmp / "gate-count") == ["ran", "ran"]


SIBLING = """
import helpers
from stackyard.workflow import Pipeline, step

@step(name="Shout")
def shout(word):
    return helpers.shout(word)

pipeline = Pipeline(helpers.NAME, steps=[shout("hi")])
"""


def test_a_pipeline_file_imports_its_sibling_modules_without_global_state(sy):
    """`import helpers` beside the pipeline works (the one importer of user code), leaves
    nothing on sys.path or under the plain name, and a second load sees an edited helper
    (a global `helpers` module would be reused, stale)."""
    import sys

    folder = sy.work / "my pipes é"
    sy.write("my pipes é/helpers.py", "NAME = 'sib'\ndef shout(w):\n    return w.upper() + '!'\n")
    path = sy.write("my pipes é/pipe.py", SIBLING)
    first = load_pipeline(path)
    assert first.name == "sib"
    assert str(folder) not in sys.path and "helpers" not in sys.modules
    ex = first.start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert engine.describe_run(ex.run_id)["steps"][0]["outputs"]["Result"] == "HI!"
    sy.write("my pipes é/helpers.py", "NAME = 'sib2'\ndef shout(w):\n    return w\n")
    assert load_pipeline(path).name == "sib2"
    link = sy.work / "elsewhere.py"     # a link runs its target, beside its siblings
    link.symlink_to(path)
    assert load_pipeline(link).name == "sib2"


def test_loading_a_pipeline_twice_gives_the_same_definition(sy):
    """The definition names a @step function's module as its folder knows it, not by the
    private name of one load: loading again is not a new pipeline version."""
    sy.write("helpers.py", "NAME = 'same'\ndef shout(w):\n    return w\n")
    path = sy.write("pipe.py", SIBLING)
    first, second = load_pipeline(path).definition(), load_pipeline(path).definition()
    assert first == second and '"Module": "pipe"' in first


@pytest.mark.parametrize("name", ["pipe.v2.py", "pipe.txt"])
def test_a_pipeline_file_must_be_a_module_name(sy, name):
    from stackyard.errors import DefinitionError

    path = sy.write(name, "pipeline = None\n")
    with pytest.raises(DefinitionError, match="rename it"):
        load_pipeline(path)
