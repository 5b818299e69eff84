"""How a job sees /opt/ml: a private mount namespace (as root, or unprivileged through a
user namespace), or the fallback that rewrites /opt/ml paths to the job folder."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import filelock
import pytest

import stackyard
from stackyard import artifacts
from stackyard.jobs import ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import ParallelismConfiguration, Pipeline, ProcessingStep

PY = ScriptProcessor(command=["python3"])

LITERAL = """
import json, os, pathlib
text = pathlib.Path("/opt/ml/processing/input/data/in.txt").read_text()
os.makedirs("/opt/ml/processing/output/out", exist_ok=True)
pathlib.Path("/opt/ml/processing/output/out/x.txt").write_text(text.upper())
config = json.loads(pathlib.Path("/opt/ml/config/processingjobconfig.json").read_text())
report = {"sandboxed": os.environ.get("STACKYARD_SANDBOXED"),
          "opt_ml": os.environ.get("STACKYARD_OPT_ML"), "cwd": os.getcwd(),
          "job_name": config["ProcessingJobName"],
          "hosts": json.loads(pathlib.Path("/opt/ml/config/resourceconfig.json").read_text()),
          "readback": pathlib.Path("/opt/ml/processing/output/out/x.txt").read_text(),
          "uid": os.getuid(), "opt": sorted(os.listdir("/opt")),
          "keep": [pathlib.Path("/opt/keep.txt").read_text(), os.listdir("/opt/keepdir")]
          if os.path.exists("/opt/keep.txt") else None}
pathlib.Path("/opt/ml/processing/output/out/report.json").write_text(json.dumps(report))
if REPORT:
    pathlib.Path(REPORT).write_text(json.dumps(report))
"""


def _literal_step(code: Path, data: Path, with_output: bool = True) -> ProcessingStep:
    outputs = [ProcessingOutput(output_name="out", source="/opt/ml/processing/output/out",
                                )] if with_output else []
    return ProcessingStep("Literal", processor=PY, code=str(code), outputs=outputs, inputs=[
        ProcessingInput(source=str(data), destination="/opt/ml/processing/input/data")])


def _out_dir(ex, step="Literal", output="out") -> Path:
    meta = {s["StepName"]: s["Metadata"] for s in ex.list_steps()}[step]
    return artifacts.uri_to_path(
        meta["ProcessingOutputConfig"]["Outputs"][output]["S3Output"]["S3Uri"])


@pytest.mark.skipif(os.geteuid() != 0, reason="the root sandbox needs uid 0")
def test_root_sandbox_lets_scripts_use_literal_opt_ml_paths(sy):
    sy.write("data/in.txt", "sandboxed text")
    code = sy.write("code/literal.py", LITERAL, REPORT="")
    ex = Pipeline("root-sandbox", steps=[_literal_step(code, sy.work / "data")]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    out = _out_dir(ex)
    assert (out / "x.txt").read_text() == "SANDBOXED TEXT"
    report = json.loads((out / "report.json").read_text())
    assert report["sandboxed"] == "1"
    assert report["opt_ml"] is None
    assert report["cwd"] == "/opt/ml/processing"
    assert report["job_name"] == ex.list_steps()[0]["Metadata"]["ProcessingJobName"]
    assert report["hosts"] == {"current_host": "algo-1", "hosts": ["algo-1"]}
    # the job's /opt/ml was its own folder, not the host's /opt/ml
    assert not Path("/opt/ml/processing/output/out/x.txt").exists()
    log = (sy.home / "runs" / ex.run_id / "jobs" / "Literal" / "attempt-1" / "log.txt")
    assert "sandbox off" not in log.read_text()
    assert "no private mount namespace" not in log.read_text()


ISOLATED = """
import os, pathlib, sys, time
out = pathlib.Path("/opt/ml/processing/output/out")
out.mkdir(parents=True, exist_ok=True)
(out / "who.txt").write_text(NAME)
# both jobs have written their file before either looks (a rendezvous, not a sleep)
meet = pathlib.Path(MEET)
(meet / NAME).touch()
end = time.monotonic() + 60
while len(os.listdir(meet)) < 2:
    if time.monotonic() > end:
        sys.exit("the other job never ran at the same time")
    time.sleep(0.01)
(out / "seen.txt").write_text(repr(sorted(os.listdir(out))) + " " + (out / "who.txt").read_text())
"""


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_parallel_jobs_never_see_each_others_files(sy, monkeypatch, mode):
    monkeypatch.setenv("STACKYARD_SANDBOX", mode)
    steps = []
    meet = sy.tmp / "meet"
    meet.mkdir()
    for name in ("Left", "Right"):
        code = sy.write(f"code/{name}.py", ISOLATED, NAME=name, MEET=str(meet))
        steps.append(ProcessingStep(name, processor=PY, code=str(code), outputs=[
            ProcessingOutput(output_name="out", source="/opt/ml/processing/output/out")]))
    if mode == "off":
        # without a namespace the script must use the paths it is given, not literals
        for s, name in zip(steps, ("Left", "Right"), strict=True):
            code = sy.write(f"code/{name}.py", ISOLATED.replace(
                '"/opt/ml/processing/output/out"', 'sys.argv[1]'), NAME=name, MEET=str(meet))
            s.job.request["AppSpecification"]["ContainerArguments"] = [
                "/opt/ml/processing/output/out"]
    ex = Pipeline("isolation", steps=steps, parallelism_config=ParallelismConfiguration(
        max_parallel_execution_steps=2)).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    for name in ("Left", "Right"):
        out = _out_dir(ex, name)
        assert (out / "who.txt").read_text() == name
        assert (out / "seen.txt").read_text() == f"['who.txt'] {name}"


PATHS_FROM_ARGS = """
import json, os, pathlib, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
text = (pathlib.Path(args["--input"]) / "in.txt").read_text()
out = pathlib.Path(args["--output"])
(out / "x.txt").write_text(text[::-1])
(out / "report.json").write_text(json.dumps({
    "argv": sys.argv, "sandboxed": os.environ["STACKYARD_SANDBOXED"],
    "opt_ml": os.environ.get("STACKYARD_OPT_ML"), "env_out": os.environ["OUT_DIR"],
    "cwd": os.getcwd(), "path_map": os.environ.get("STACKYARD_PATH_MAP")}))
"""


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_paths_given_as_arguments_work_in_both_modes(sy, monkeypatch, mode):
    monkeypatch.setenv("STACKYARD_SANDBOX", mode)
    sy.write("data/in.txt", "abc")
    code = sy.write("code/args.py", PATHS_FROM_ARGS)
    proc = ScriptProcessor(command=["python3"], env={"OUT_DIR": "/opt/ml/processing/output/out"})
    s = ProcessingStep(
        "Args", processor=proc, code=str(code),
        inputs=[ProcessingInput(source=f"file://{sy.work / 'data'}",
                                destination="/opt/ml/processing/input/data")],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/output/out")],
        job_arguments=["--input", "/opt/ml/processing/input/data",
                       "--output", "/opt/ml/processing/output/out"])
    ex = Pipeline("args-" + mode, steps=[s]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    out = _out_dir(ex, "Args")
    assert (out / "x.txt").read_text() == "cba"
    report = json.loads((out / "report.json").read_text())
    job_ml = sy.home / "runs" / ex.run_id / "jobs" / "Args" / "attempt-1" / "ml"
    log = (job_ml.parent / "log.txt").read_text()
    if mode == "auto":
        assert report["sandboxed"] == "1"
        assert report["argv"][1:] == ["--input", "/opt/ml/processing/input/data",
                                      "--output", "/opt/ml/processing/output/out"]
        assert report["env_out"] == "/opt/ml/processing/output/out"
        assert report["opt_ml"] is None
    else:
        assert report["sandboxed"] == "0"
        assert report["opt_ml"] == str(job_ml)
        assert report["argv"] == [f"{job_ml}/processing/input/code/args.py",
                                  "--input", f"{job_ml}/processing/input/data",
                                  "--output", f"{job_ml}/processing/output/out"]
        assert report["env_out"] == f"{job_ml}/processing/output/out"
        assert report["cwd"] == f"{job_ml}/processing"
        assert json.loads(report["path_map"]) == {"/opt/ml": str(job_ml)}
        assert "sandbox off" in log


def test_a_non_python_command_runs_unchanged(sy):
    sy.write("data/in.txt", "shell")
    code = sy.write("code/job.sh", """
        set -e
        tr a-z A-Z < /opt/ml/processing/input/data/in.txt > /opt/ml/processing/output/out/x.txt
        echo "args: $*"
    """)
    s = ProcessingStep("Shell", processor=ScriptProcessor(command=["bash"]), code=str(code),
                       job_arguments=["one", "two"],
                       inputs=[ProcessingInput(source=str(sy.work / "data"),
                                               destination="/opt/ml/processing/input/data")],
                       outputs=[ProcessingOutput(output_name="out",
                                                 source="/opt/ml/processing/output/out")])
    ex = Pipeline("shell", steps=[s]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    assert (_out_dir(ex, "Shell") / "x.txt").read_text() == "SHELL"
    log = sy.home / "runs" / ex.run_id / "jobs" / "Shell" / "attempt-1" / "log.txt"
    assert "args: one two" in log.read_text()


# ---- unprivileged: run the whole pipeline as uid 65534 --------------------------------
PKG = Path(stackyard.__file__).resolve().parent
# Pure-Python packages the engine's run path imports, copied beside stackyard: the interpreter
# uid 65534 can run may be the system's, which lacks the venv's packages.
PURE_DEPS = [Path(filelock.__file__).resolve().parent]


def _src_for_nobody(d: Path) -> str:
    """A copy of the package uid 65534 can read (the checkout may sit in a 0700 folder)."""
    target = d / "pysrc"
    if not target.exists():
        for pkg in [PKG, *PURE_DEPS]:
            shutil.copytree(pkg, target / pkg.name, ignore=shutil.ignore_patterns("__pycache__"))
        for p in [target, *target.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    return str(target)
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def nobody_dir():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to become an unprivileged user")
    d = Path(tempfile.mkdtemp(prefix="stackyard-nobody-"))
    d.chmod(0o777)
    yield d
    subprocess.run(["chmod", "-R", "u+w", str(d)], check=False)
    shutil.rmtree(d, ignore_errors=True)


def _nobody_python(cwd: Path) -> str:
    """An interpreter uid 65534 can run that imports stackyard (and can start itself)."""
    probe = ("import os, sys, sqlite3, stackyard.engine, stackyard.workflow; "
             "sys.exit(0 if os.access(sys.executable, os.X_OK) else 3)")
    for py in dict.fromkeys([sys.executable, getattr(sys, "_base_executable", ""),
                             "/usr/bin/python3", shutil.which("python3") or ""]):
        if not py:
            continue
        r = subprocess.run([*NOBODY, "env", f"PYTHONPATH={_src_for_nobody(cwd)}", py, "-c",
                            probe],
                           check=False, cwd=cwd, capture_output=True)
        if r.returncode == 0:
            return py
    pytest.skip("no Python interpreter usable by an unprivileged user")


def _run_as_nobody(d: Path, with_output: bool,
                   namespace_setup: str | None = None) -> subprocess.CompletedProcess:
    (d / "data").mkdir()
    (d / "data" / "in.txt").write_text("unprivileged")
    (d / "code").mkdir()
    (d / "code" / "literal.py").write_text(
        f"REPORT = {str(d / 'report.json')!r}\n" + textwrap.dedent(LITERAL))
    (d / "pipe.py").write_text(textwrap.dedent(f"""
        import json
        from stackyard.jobs import ProcessingInput, ProcessingOutput, ScriptProcessor
        from stackyard.workflow import ParallelismConfiguration, Pipeline, ProcessingStep
        outputs = [ProcessingOutput(output_name="out", source="/opt/ml/processing/output/out")
                   ] if {with_output} else []
        s = ProcessingStep("Literal", processor=ScriptProcessor(command=["python3"]),
                           code={str(d / 'code' / 'literal.py')!r}, outputs=outputs,
                           inputs=[ProcessingInput(source={str(d / 'data')!r},
                                                   destination="/opt/ml/processing/input/data")])
        ex = Pipeline("nobody", steps=[s]).start()
        status = ex.wait()
        steps = ex.list_steps()
        print(json.dumps({{"status": status, "reason": ex.describe()["failure_reason"],
                          "meta": steps[0]["Metadata"]}}))
    """))
    for p in [d, *d.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    py = _nobody_python(d)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": _src_for_nobody(d),
           "STACKYARD_HOME": str(d / "home"), "HOME": str(d)}
    cmd = [*NOBODY, "env", "-i", *[f"{k}={v}" for k, v in env.items()], py, str(d / "pipe.py")]
    if namespace_setup:  # run inside a private mount namespace prepared (as root) by a script
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               f"{namespace_setup} && exec {shlex.join(cmd)}"]
    return subprocess.run(cmd, check=False, cwd=d, capture_output=True, text=True,
                          timeout=120)


def test_unprivileged_sandbox_lets_scripts_use_literal_opt_ml_paths(nobody_dir):
    r = _run_as_nobody(nobody_dir, with_output=False)
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "Succeeded", result["reason"]
    report = json.loads((nobody_dir / "report.json").read_text())
    assert report["uid"] == 65534
    assert report["sandboxed"] == "1"            # a user namespace, not the fallback
    assert report["readback"] == "UNPRIVILEGED"
    assert report["cwd"] == "/opt/ml/processing"
    assert not Path("/opt/ml/processing/output/out/x.txt").exists()


def test_unprivileged_runs_store_their_outputs(nobody_dir):
    """Regression: artifacts were frozen before being renamed into place, which ordinary users may
    not do.
    """
    r = _run_as_nobody(nobody_dir, with_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "Succeeded", result["reason"]
    uri = result["meta"]["ProcessingOutputConfig"]["Outputs"]["out"]["S3Output"]["S3Uri"]
    out = Path(uri.removeprefix("file://"))
    assert (out / "x.txt").read_text() == "UNPRIVILEGED"
    assert not os.stat(out / "x.txt").st_mode & 0o222


def test_unprivileged_sandbox_creates_a_missing_opt_ml_mountpoint(nobody_dir):
    """Where /opt/ml does not exist and the user cannot create it, the launcher lays a
    tmpfs over /opt inside the job's namespace and binds the original entries back."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    # a private mount namespace for this test only, whose /opt is root-owned, 0755, has
    # no ml/ and holds one file and one folder the job must still see
    setup = ("mount -t tmpfs -o mode=755 tmpfs /opt && echo kept > /opt/keep.txt && "
             "mkdir /opt/keepdir && touch /opt/keepdir/f")
    r = _run_as_nobody(nobody_dir, with_output=False, namespace_setup=setup)
    if r.returncode != 0 and "mount" in r.stderr and "permission" in r.stderr.lower():
        pytest.skip(f"cannot prepare the mount namespace: {r.stderr}")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "Succeeded", result["reason"]
    report = json.loads((nobody_dir / "report.json").read_text())
    assert report["sandboxed"] == "1" and report["readback"] == "UNPRIVILEGED"
    assert report["opt"] == ["keep.txt", "keepdir", "ml"]
    assert report["keep"] == ["kept\n", ["f"]]
