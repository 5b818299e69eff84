"""`stackyard run FILE.py [-p Name=Value]`: exit 0 Succeeded, 1 Failed, 2 bad input."""

from __future__ import annotations

import json

import pytest

from stackyard.artifacts import uri_to_path

PIPELINE = """
from stackyard.jobs import ProcessingOutput, ScriptProcessor
from stackyard.workflow import (ParameterBoolean, ParameterInteger, ParameterString, Pipeline,
                                ProcessingStep)

n = ParameterInteger("N", default_value=1)
word = ParameterString("Word", default_value="hi")
flag = ParameterBoolean("Fail", default_value=False)
job = ProcessingStep(
    "Echo", processor=ScriptProcessor(command=["python3"]), code=CODE,
    job_arguments=["--n", n.to_string(), "--word", word, "--fail", flag.to_string()],
    outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])
pipeline = Pipeline("cli-echo", parameters=[n, word, flag], steps=[job])
"""

ECHO = """
import json, pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("echo says", args["--word"] * int(args["--n"]))
pathlib.Path("/opt/ml/processing/out/args.json").write_text(json.dumps(args))
if args["--fail"] == "true":
    raise RuntimeError("asked to fail")
"""


@pytest.fixture
def echo(sy):
    code = sy.write("code/echo.py", ECHO)
    return sy.write("echo_pipeline.py", PIPELINE, CODE=str(code))


def test_run_succeeds_with_exit_0_and_typed_parameters(sy, echo):
    r = sy.cli("run", echo, "-p", "N=3", "--param", "Word=ab")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "echo says ababab" in r.stdout            # live job log
    runs = sy.cli_json("runs", "list")
    assert len(runs) == 1
    run_id = runs[0]["run_id"]
    assert f"run id: {run_id}" in r.stdout
    d = sy.cli_json("runs", "describe", run_id)
    assert d["status"] == "Succeeded"
    assert d["parameters"] == {"N": 3, "Word": "ab", "Fail": False}
    uri = d["steps"][0]["outputs"]["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"][
        "S3Uri"]
    args = json.loads((uri_to_path(uri) / "args.json").read_text())
    assert args == {"--n": "3", "--word": "ab", "--fail": "false"}


def test_quiet_hides_job_logs(sy, echo):
    r = sy.cli("run", echo, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "echo says" not in r.stdout
    assert "Succeeded" in r.stdout


def test_run_fails_with_exit_1(sy, echo):
    r = sy.cli("run", echo, "-p", "Fail=true")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "asked to fail" in r.stdout + r.stderr
    (run,) = sy.cli_json("runs", "list")
    assert run["status"] == "Failed"
    d = sy.cli_json("runs", "describe", run["run_id"])
    assert "RuntimeError: asked to fail" in d["failure_reason"]
    assert d["steps"][0]["status"] == "Failed"


@pytest.mark.parametrize("args, message", [
    (["-p", "N=many"], "'N'"),
    (["-p", "Fail=maybe"], "'Fail'"),
    (["-p", "Nope=1"], "Nope"),
    (["-p", "N"], "Name=Value"),
])
def test_bad_parameters_exit_2_and_write_nothing(sy, echo, args, message):
    r = sy.cli("run", echo, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    sy.assert_nothing_written()


BAD_DEFS = {
    "cycle": """
        from stackyard.jobs import ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        p = ScriptProcessor(command=["python3"])
        a = ProcessingStep("a", processor=p, code=CODE, depends_on=["b"])
        b = ProcessingStep("b", processor=p, code=CODE, depends_on=["a"])
        pipeline = Pipeline("bad", steps=[a, b])
    """,
    "duplicate": """
        from stackyard.jobs import ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        p = ScriptProcessor(command=["python3"])
        pipeline = Pipeline("bad", steps=[ProcessingStep("x", processor=p, code=CODE),
                                          ProcessingStep("x", processor=p, code=CODE)])
    """,
    "unknown step": """
        from stackyard.jobs import ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        pipeline = Pipeline("bad", steps=[ProcessingStep(
            "a", processor=ScriptProcessor(command=["python3"]), code=CODE, depends_on=["nope"])])
    """,
    "unknown output": """
        from stackyard.jobs import ProcessingInput, ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        p = ScriptProcessor(command=["python3"])
        a = ProcessingStep("a", processor=p, code=CODE)
        b = ProcessingStep("b", processor=p, code=CODE, inputs=[ProcessingInput(
            source=a.properties.ProcessingOutputConfig.Outputs["nope"].S3Output.S3Uri,
            destination="/opt/ml/processing/in")])
        pipeline = Pipeline("bad", steps=[a, b])
    """,
    "missing script": """
        from stackyard.jobs import ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        pipeline = Pipeline("bad", steps=[ProcessingStep(
            "a", processor=ScriptProcessor(command=["python3"]), code=CODE + ".missing")])
    """,
    "no pipeline variable": """
        x = CODE
    """,
    "raises on import": """
        raise ImportError("cannot import the thing")
    """,
    "unknown argument": """
        from stackyard.jobs import ScriptProcessor
        ScriptProcessor(command=["python3"], instance_typo="x")
    """,
}


@pytest.mark.parametrize("case", sorted(BAD_DEFS))
def test_bad_definitions_exit_2_before_any_job_and_write_nothing(sy, case):
    mark = sy.tmp / "ran"
    code = sy.write("code/job.py", "open(MARK, 'w').write('ran')\n", MARK=str(mark))
    path = sy.write("bad.py", BAD_DEFS[case], CODE=str(code))
    r = sy.cli("run", path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error" in r.stderr.lower()
    assert not mark.exists()
    sy.assert_nothing_written()


def test_a_missing_file_exits_2(sy):
    r = sy.cli("run", sy.work / "nowhere.py")
    assert r.returncode == 2
    assert "does not exist" in r.stderr
    sy.assert_nothing_written()


def test_unknown_commands_and_options_exit_2(sy):
    assert sy.cli("frobnicate").returncode == 2
    assert sy.cli("runs", "list", "--bogus").returncode == 2


@pytest.mark.slow
def test_two_cli_runs_of_one_pipeline_at_once(sy):
    code = sy.write("code/slow_echo.py", "import time; time.sleep(0.5)\n" + ECHO)
    path = sy.write("echo_pipeline.py", PIPELINE, CODE=str(code))
    procs = [sy.cli_popen("run", path, "-q", "-p", f"Word={w}") for w in ("left", "right")]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = sy.cli_json("runs", "list")
    assert len(runs) == 2 and {r["status"] for r in runs} == {"Succeeded"}
    words = set()
    for run in runs:
        d = sy.cli_json("runs", "describe", run["run_id"])
        words.add(d["parameters"]["Word"])
        out = d["steps"][0]["outputs"]["ProcessingOutputConfig"]["Outputs"]["out"]
        folder = uri_to_path(out["S3Output"]["S3Uri"])
        assert json.loads((folder / "args.json").read_text())["--word"] == \
            d["parameters"]["Word"]
    assert words == {"left", "right"}


GATED = """
import os, time
open(STARTED, "w").write(str(os.getpid()))
while os.path.exists(GATE):
    time.sleep(0.05)
"""


@pytest.mark.timeout(90)
def test_ctrl_c_on_stackyard_run_returns_promptly(sy):
    """Regression: Ctrl-C used to block until every running job ended and left the run Executing."""
    import signal

    gate, started = sy.tmp / "gate", sy.tmp / "started"
    gate.write_text("closed")
    code = sy.write("code/gated.py", GATED, GATE=str(gate), STARTED=str(started))
    path = sy.write("gated.py", """
        from stackyard.jobs import ScriptProcessor
        from stackyard.workflow import Pipeline, ProcessingStep
        pipeline = Pipeline("interrupt", steps=[ProcessingStep(
            "Gated", processor=ScriptProcessor(command=["python3"]), code=CODE)])
    """, CODE=str(code))
    runner = sy.cli_popen("run", path)
    try:
        sy.wait_until(started.exists, timeout=60, what="the job to start")
        runner.send_signal(signal.SIGINT)
        # the job never ends by itself while the gate is closed: a runner that waited for
        # it would never exit, so exiting at all (within a generous bound) is the proof
        runner.communicate(timeout=60)
    finally:
        gate.unlink(missing_ok=True)
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert runner.returncode != 0
