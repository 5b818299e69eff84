"""The backend seam without a cluster: the instance-type table, resource overrides, bad
choices refused before anything runs, and a local run that never imports Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stackyard import runtime
from stackyard.errors import UsageError
from stackyard.runtime._backend import GIB, check_resources, use_backend


@pytest.mark.parametrize(("itype", "expected"), [
    ("ml.m5.xlarge", {"CPU": 4, "memory": 16 * GIB}),
    ("ml.g4dn.xlarge", {"CPU": 4, "GPU": 1, "memory": 16 * GIB}),
    ("ml.m5.12xlarge", {"CPU": 48, "memory": 192 * GIB}),        # derived from its size
    ("ml.g5.24xlarge", {"CPU": 96, "GPU": 4, "memory": 384 * GIB}),
    (None, {"CPU": 1}),
])
def test_instance_types_map_to_ray_resources(itype, expected):
    assert runtime.resources_for(itype) == expected


def test_explicit_resources_override_the_table():
    assert runtime.resources_for("ml.m5.xlarge", {"ml.m5.xlarge": {"CPU": 1}}) == {"CPU": 1}
    assert runtime.resources_for("ml.c5.xlarge", {"*": {"CPU": 2, "GPU": 0}}) == {
        "CPU": 2, "GPU": 0}


def test_unknown_instance_type_names_itself():
    with pytest.raises(UsageError, match=r"ml\.zz9\.xlarge"):
        runtime.resources_for("ml.zz9.xlarge")


@pytest.mark.parametrize("junk", ['{"*": {"CPU": "nan"}}', '{"*": {"CPU": -1}}', "[1]",
                                  '{"*": 3}', "not json", '{"*": {"CPU": "١"}}'])
def test_junk_resources_are_refused(junk):
    with pytest.raises(UsageError):
        check_resources(junk, "--resources")


def test_bad_backend_choices_are_usage_errors(monkeypatch):
    monkeypatch.delenv("STACKYARD_ARTIFACTS", raising=False)
    with pytest.raises(UsageError, match="'spark' is not one of"):
        use_backend("spark")
    with pytest.raises(UsageError, match="--backend ray"):
        use_backend("local", address="127.0.0.1:6379")
    with pytest.raises(UsageError, match="STACKYARD_ARTIFACTS"):
        use_backend("ray", address="127.0.0.1:1")
    assert use_backend("local").name == "local"


PIPELINE = """
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import Pipeline, PipelineSession, ProcessingStep
s = PipelineSession()
p = ScriptProcessor(command=["python3"], instance_type="ml.m5.xlarge", sagemaker_session=s)
pipeline = Pipeline(name="plain", steps=[ProcessingStep("Hello", step_args=p.run(code=CODE))])
"""

PROBE = """
import sys
from pathlib import Path
from stackyard.cli import run_cli
code = run_cli(["run", sys.argv[1], "-q"])
sys.stderr.write("\\nRESULT " + str(code) + " " + str("ray" in sys.modules) + "\\n")
"""


def test_a_local_run_never_imports_ray(sy):
    code = sy.write("hello.py", "print('hello from the job')\n")
    pipe = sy.write("plain.py", PIPELINE, CODE=str(code))
    r = subprocess.run([sys.executable, "-c", PROBE, str(pipe)], capture_output=True,
                       text=True, timeout=120, env=sy.cli_env(), cwd=sy.work, check=False)
    assert r.stderr.strip().splitlines()[-1] == "RESULT 0 False", r.stderr


def test_ray_backend_without_artifact_store_exits_2_and_writes_nothing(sy):
    code = sy.write("hello.py", "print('hello')\n")
    pipe = sy.write("plain.py", PIPELINE, CODE=str(code))
    env = {k: v for k, v in sy.cli_env().items() if k != "STACKYARD_ARTIFACTS"}
    r = sy.cli("run", pipe, "--backend", "ray", "--address", "127.0.0.1:1", env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "STACKYARD_ARTIFACTS" in r.stderr
    sy.assert_nothing_written()
    r = sy.cli("run", pipe, "--backend", "ray", "--resources", json.dumps({"*": {"CPU": -2}}),
               env={**env, "STACKYARD_ARTIFACTS": str(sy.tmp / "shared")})
    assert r.returncode == 2 and "CPU" in r.stderr, r.stdout + r.stderr
    sy.assert_nothing_written()


def test_a_resume_goes_on_where_the_run_started_unless_told(sy):
    """A local run records its backend; resumed with STACKYARD_BACKEND=ray in the
    environment (which once sent the resume to Ray, or refused it for want of a store) it
    stays local; a flag that contradicts the record is refused before anything runs."""
    flag = sy.tmp / "fail-once"
    flag.write_text("")
    code = sy.write("hello.py", """
        import pathlib, sys
        flag = pathlib.Path(FLAG)
        if flag.exists():
            flag.unlink()
            sys.exit(3)
        print('hello')
        """, FLAG=str(flag))
    pipe = sy.write("plain.py", PIPELINE, CODE=str(code))
    assert sy.cli("run", pipe, "-q").returncode == 1
    run_id, backend = sy.db_query("SELECT run_id, backend FROM runs")[0]
    assert json.loads(backend)["name"] == "local"
    env = {k: v for k, v in sy.cli_env().items() if k != "STACKYARD_ARTIFACTS"}
    r = sy.cli("runs", "resume", run_id, "--address", "127.0.0.1:1",
               env={**env, "STACKYARD_BACKEND": "ray"})
    assert r.returncode == 2 and "--address is for the ray backend" in r.stderr, r.stderr
    r = sy.cli("runs", "resume", run_id, "-q", env={**env, "STACKYARD_BACKEND": "ray"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert sy.db_query("SELECT status FROM runs") == [("Succeeded",)]
    job_dir = sy.db_query("SELECT job_dir FROM attempts ORDER BY n DESC")[0][0]
    assert not (Path(job_dir) / "ray.json").exists()
