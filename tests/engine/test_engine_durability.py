"""Durability: kill -9 the runner, resume the run; stop runs; resume failed runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from stackyard import engine
from stackyard.errors import UsageError
from stackyard.jobs import ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, RetryPolicy, step

PIPELINE = """
import pathlib
from stackyard.jobs import ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, step

@step(name="First")
def first():
    with open(FIRST, "a") as f:
        f.write("ran\\n")
    return "first-done"

@step(name="Last")
def last(uri, note):
    text = (pathlib.Path(uri.removeprefix("file://")) / "out.txt").read_text()
    with open(LAST, "a") as f:
        f.write("ran\\n")
    return text + " " + note

marker = first()
slow = ProcessingStep(
    "Slow", processor=ScriptProcessor(command=["python3"]), code=SLOW_CODE,
    outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")],
    depends_on=[marker])
done = last(slow.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri, marker)
pipeline = Pipeline("durable", steps=[done])
"""

SLOW = """
import os, pathlib, time
with open(PIDS, "a") as f:
    f.write(f"{os.getpid()}\\n")
time.sleep(SECONDS)
pathlib.Path("/opt/ml/processing/out/out.txt").write_text("slow-output")
"""


def _write_durable(sy, seconds=2.0):
    pids = sy.tmp / "pids"
    slow = sy.write("code/slow.py", SLOW, PIDS=str(pids), SECONDS=seconds)
    path = sy.write("durable.py", PIPELINE, FIRST=str(sy.tmp / "first"),
                    LAST=str(sy.tmp / "last"), SLOW_CODE=str(slow))
    return path, pids


def _run_id(sy):
    return sy.wait_until(lambda: (sy.db_query("SELECT run_id FROM runs") or [None])[0],
                         what="the run row")[0]


def _launcher_pid(sy, run_id, step_name):
    def get():
        rows = sy.db_query("SELECT pid FROM attempts WHERE run_id=? AND step=? AND pid "
                           "IS NOT NULL", (run_id, step_name))
        return rows[0][0] if rows else None
    return sy.wait_until(get, what="the launcher pid")


def _kill_runner_mid_job(sy, reaper, path, pids):
    runner = sy.cli_popen("run", path, "-q")
    sy.wait_until(lambda: pids.exists() and pids.read_text().strip(), timeout=60,
                  what="the slow job to start")
    run_id = _run_id(sy)
    launcher = _launcher_pid(sy, run_id, "Slow")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)
    assert runner.returncode == -signal.SIGKILL
    assert sy.pid_alive(launcher), "the job's launcher should outlive the runner"
    return run_id, launcher


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_kill_9_then_resume_adopts_the_running_job(sy, reaper):
    path, pids = _write_durable(sy, seconds=2.0)
    run_id, launcher = _kill_runner_mid_job(sy, reaper, path, pids)
    reaper.watch(launcher)  # a normal init reaps the orphaned launcher when it exits
    d = engine.describe_run(run_id)
    assert d["status"] == "Executing"
    assert {s["name"]: s["status"] for s in d["steps"]} == {"First": "Succeeded",
                                                            "Slow": "Executing"}
    r = sy.cli("runs", "resume", run_id, "-q", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    d = sy.cli_json("runs", "describe", run_id)
    assert d["status"] == "Succeeded"
    steps = {s["name"]: s for s in d["steps"]}
    assert {n: s["status"] for n, s in steps.items()} == {
        "First": "Succeeded", "Slow": "Succeeded", "Last": "Succeeded"}
    assert steps["Slow"]["attempts"] == 1
    assert len(sy.lines(pids)) == 1, "the adopted job must not run a second time"
    assert sy.lines(sy.tmp / "first") == ["ran"], "a succeeded step must not rerun"
    assert sy.lines(sy.tmp / "last") == ["ran"]
    assert steps["Last"]["outputs"] == {"Result": "slow-output first-done"}


@pytest.mark.timeout(90)
def test_resume_collects_a_job_that_finished_while_no_runner_was_alive(sy, reaper):
    path, pids = _write_durable(sy, seconds=0.5)
    run_id, launcher = _kill_runner_mid_job(sy, reaper, path, pids)
    reaper.watch(launcher)
    job_dir = sy.home / "runs" / run_id / "jobs" / "Slow" / "attempt-1"
    sy.wait_until(lambda: (job_dir / "exit.json").exists(), what="the job to finish")
    sy.wait_until(lambda: not sy.pid_alive(launcher), what="the launcher to exit")
    assert json.loads((job_dir / "exit.json").read_text())["exit_code"] == 0
    r = sy.cli("runs", "resume", run_id, "-q", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    d = engine.describe_run(run_id)
    assert d["status"] == "Succeeded"
    assert len(sy.lines(pids)) == 1
    assert sy.lines(sy.tmp / "first") == ["ran"]
    assert {s["name"]: s["attempts"] for s in d["steps"]}["Slow"] == 1


@pytest.mark.timeout(90)
def test_resume_finishes_when_nothing_reaps_the_orphaned_launcher(sy, reaper):
    """Regression: a zombie launcher used to count as alive, so resume hung forever where PID 1
    does not reap.
    """
    path, pids = _write_durable(sy, seconds=0.3)
    run_id, launcher = _kill_runner_mid_job(sy, reaper, path, pids)
    reaper.remember(launcher)   # left a zombie, as under a PID 1 that does not reap
    job_dir = sy.home / "runs" / run_id / "jobs" / "Slow" / "attempt-1"
    sy.wait_until(lambda: (job_dir / "exit.json").exists(), what="the job to finish")
    resume = sy.cli_popen("runs", "resume", run_id, "-q")
    try:
        resume.wait(timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("`stackyard runs resume` still hangs 8 s after the job ended")
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.wait()
    assert resume.returncode == 0
    assert engine.describe_run(run_id)["status"] == "Succeeded"


STOPPABLE = """
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep
pipeline = Pipeline("stoppable", steps=[ProcessingStep(
    "Long", processor=ScriptProcessor(command=["python3"]), code=CODE)])
"""

LONG = """
import os, subprocess, time
child = subprocess.Popen(["sleep", "300"])
with open(PIDS, "w") as f:
    f.write(f"{os.getpid()} {child.pid}\\n")
time.sleep(300)
"""


def _long_job(sy):
    pids = sy.tmp / "long-pids"
    code = sy.write("code/long.py", LONG, PIDS=str(pids))
    return sy.write("stoppable.py", STOPPABLE, CODE=str(code)), pids


def _job_pids(sy, pids):
    text = sy.wait_until(lambda: pids.exists() and pids.read_text().strip(), timeout=60,
                         what="the long job to start")
    return [int(x) for x in text.split()]


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_runs_stop_ends_a_live_run_and_kills_its_job(sy):
    path, pids = _long_job(sy)
    runner = sy.cli_popen("run", path, "-q")
    job_pid, child_pid = _job_pids(sy, pids)
    run_id = _run_id(sy)
    r = sy.cli("runs", "stop", run_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_id in r.stdout
    out, _ = runner.communicate(timeout=30)     # long before the job's 300 s sleep ends
    assert runner.returncode == 1, out
    sy.wait_until(lambda: not sy.pid_alive(job_pid) and not sy.pid_alive(child_pid),
                  timeout=10, what="the job and its child to die")
    d = sy.cli_json("runs", "describe", run_id)
    assert d["status"] == "Stopped"
    (s,) = d["steps"]
    assert s["status"] == "Stopped"
    assert "stopped" in (d["failure_reason"] or "")
    # stopping a finished run changes nothing
    r = sy.cli("runs", "stop", run_id)
    assert r.returncode == 0 and "Stopped" in r.stdout


@pytest.mark.timeout(90)
def test_stop_with_no_live_runner_stops_the_orphaned_job(sy, reaper):
    path, pids = _long_job(sy)
    runner = sy.cli_popen("run", path, "-q")
    job_pid, child_pid = _job_pids(sy, pids)
    run_id = _run_id(sy)
    reaper.watch(_launcher_pid(sy, run_id, "Long"))
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)
    assert sy.pid_alive(job_pid)
    assert engine.stop_run(run_id) == "Stopped"
    sy.wait_until(lambda: not sy.pid_alive(job_pid) and not sy.pid_alive(child_pid),
                  timeout=10, what="the orphaned job to die")
    d = engine.describe_run(run_id)
    assert d["status"] == "Stopped"
    assert d["steps"][0]["status"] == "Stopped"


@pytest.mark.timeout(60)
def test_execution_stop_in_process(sy):
    path, pids = _long_job(sy)
    from stackyard.cli._runs import load_pipeline

    ex = load_pipeline(path).start()
    job_pid, child_pid = _job_pids(sy, pids)
    assert engine.stop_run(ex.run_id) == "Stopping"   # the runner thread is alive
    assert ex.wait(timeout=20) == "Stopped"
    sy.wait_until(lambda: not sy.pid_alive(job_pid) and not sy.pid_alive(child_pid),
                  timeout=10, what="the job to die")
    assert ex.list_steps()[0]["StepStatus"] == "Stopped"


@pytest.mark.timeout(60)
def test_a_run_driven_by_a_live_process_cannot_be_resumed_elsewhere(sy):
    path, pids = _long_job(sy)
    runner = sy.cli_popen("run", path, "-q")
    try:
        _job_pids(sy, pids)
        run_id = _run_id(sy)
        with pytest.raises(UsageError, match="live process"):
            engine.resume_run(run_id)
        r = sy.cli("runs", "resume", run_id)
        assert r.returncode == 2, r.stdout + r.stderr
        assert len(sy.lines(pids)) == 1
    finally:
        sy.cli("runs", "stop", run_id)
        runner.communicate(timeout=30)


ATTEMPTS: dict[str, int] = {}


@step(name="Upstream")
def upstream():
    ATTEMPTS["up"] = ATTEMPTS.get("up", 0) + 1
    return 21


@step(name="Fragile")
def fragile(x, flag_path):
    ATTEMPTS["fragile"] = ATTEMPTS.get("fragile", 0) + 1
    if os.path.exists(flag_path):
        raise RuntimeError("flag present")
    return 2 * x


def test_resume_of_a_failed_run_reruns_only_what_failed(sy):
    ATTEMPTS.clear()
    flag = sy.tmp / "flag"
    flag.write_text("x")
    p = Pipeline("resumable", steps=[fragile(upstream(), str(flag))])
    ex = p.start()
    assert ex.wait() == "Failed"
    flag.unlink()
    assert engine.resume_run(ex.run_id, functions=p.functions()) == "Succeeded"
    assert ATTEMPTS == {"up": 1, "fragile": 2}
    d = engine.describe_run(ex.run_id)
    assert d["status"] == "Succeeded" and d["failure_reason"] is None
    assert {s["name"]: s["status"] for s in d["steps"]} == {"Upstream": "Succeeded",
                                                            "Fragile": "Succeeded"}
    assert ex.result("Fragile") == 42
    # resuming a succeeded run is a no-op
    assert engine.resume_run(ex.run_id, functions=p.functions()) == "Succeeded"
    assert ATTEMPTS == {"up": 1, "fragile": 2}


@pytest.mark.slow
def test_resume_imports_step_functions_in_a_new_process(sy):
    flag = sy.tmp / "flag"
    flag.write_text("x")
    path = sy.write("resume_me.py", """
        import os
        from stackyard.workflow import Pipeline, step

        @step(name="Up")
        def up():
            open(UPS, "a").write("ran\\n")
            return 20

        @step(name="Down")
        def down(x):
            if os.path.exists(FLAG):
                raise RuntimeError("not yet")
            return x + 1

        pipeline = Pipeline("resume-file", steps=[down(up())])
    """, FLAG=str(flag), UPS=str(sy.tmp / "ups"))
    r = sy.cli("run", path, "-q")
    assert r.returncode == 1
    run_id = sy.cli_json("runs", "list")[0]["run_id"]
    flag.unlink()
    r = sy.cli("runs", "resume", run_id, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    d = sy.cli_json("runs", "describe", run_id)
    assert d["status"] == "Succeeded"
    assert {s["name"]: s["outputs"] for s in d["steps"]}["Down"] == {"Result": 21}
    assert sy.lines(sy.tmp / "ups") == ["ran"]


CALLS: list[float] = []


@step(name="Patient", retry_policies=[RetryPolicy(interval_seconds=30, max_attempts=3)])
def patient():
    CALLS.append(time.monotonic())
    raise RuntimeError("wait for me")


@pytest.mark.timeout(60)
def test_stop_during_a_retry_backoff_ends_the_run_promptly(sy):
    CALLS.clear()
    ex = Pipeline("backoff-stop", steps=[patient()]).start()
    sy.wait_until(lambda: sy.db_query("SELECT 1 FROM attempts WHERE run_id=? AND "
                                      "status='Failed'", (ex.run_id,)),
                  what="the first attempt to fail (the 30 s backoff begins)")
    ex.stop()
    assert ex.wait(timeout=10) == "Stopped"     # well before the 30 s backoff ends
    assert len(CALLS) == 1
    assert ex.list_steps()[0]["StepStatus"] == "Stopped"


@pytest.mark.timeout(60)
def test_a_stopped_run_can_be_resumed(sy):
    gate = sy.tmp / "gate"
    gate.write_text("closed")
    code = sy.write("code/gated.py", """
        import os, pathlib, time
        open(STARTS, "a").write("start\\n")
        while os.path.exists(GATE):
            time.sleep(0.05)
        pathlib.Path("/opt/ml/processing/out/done.txt").write_text("done")
    """, GATE=str(gate), STARTS=str(sy.tmp / "starts"))
    p = Pipeline("stop-resume", steps=[ProcessingStep(
        "Gated", processor=ScriptProcessor(command=["python3"]), code=str(code),
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])])
    ex = p.start()
    sy.wait_until(lambda: (sy.tmp / "starts").exists(), what="the job to start")
    ex.stop()
    assert ex.wait(timeout=20) == "Stopped"
    gate.unlink()
    assert engine.resume_run(ex.run_id) == "Succeeded"
    d = engine.describe_run(ex.run_id)
    assert d["status"] == "Succeeded"
    assert d["steps"][0]["status"] == "Succeeded"
    assert sy.lines(sy.tmp / "starts") == ["start", "start"]


class _SlowMemoryFS(MemoryFileSystem):
    """An in-memory fsspec filesystem with S3-like latency on downloads."""

    protocol = "stackyardslow"

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str) and path.startswith("stackyardslow://"):
            path = "memory://" + path[len("stackyardslow://"):]
        return super()._strip_protocol(path)

    def get(self, *args, **kwargs):
        time.sleep(1.5)
        return super().get(*args, **kwargs)


@pytest.mark.timeout(60)
def test_a_stop_during_input_download_prevents_the_job(sy):
    """Regression: a stop during input download used to be ignored; the job started anyway."""
    fsspec.register_implementation("stackyardslow", _SlowMemoryFS, clobber=True)
    store = fsspec.filesystem("stackyardslow")
    root = f"/stackyard-slow-{os.getpid()}"
    store.pipe(f"{root}/x.txt", b"x")
    gate, started = sy.tmp / "gate", sy.tmp / "started"
    gate.write_text("closed")
    code = sy.write("code/gated.py", """
        import os, time
        open(STARTED, "w").write("started")
        while os.path.exists(GATE):
            time.sleep(0.05)
    """, GATE=str(gate), STARTED=str(started))
    ex = Pipeline("stop-early", steps=[ProcessingStep(
        "Gated", processor=ScriptProcessor(command=["python3"]), code=str(code),
        inputs=[ProcessingInput(source=f"stackyardslow://{root}",
                                destination="/opt/ml/processing/in")])]).start()
    try:
        sy.wait_until(lambda: sy.db_query("SELECT 1 FROM attempts WHERE run_id=?",
                                          (ex.run_id,)), what="the attempt to begin")
        ex.stop()
        deadline = time.monotonic() + 4
        while (status := engine.describe_run(ex.run_id)["status"]) == "Executing" and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        job_started = started.exists()
    finally:
        gate.unlink(missing_ok=True)
        try:
            ex.wait(timeout=20)
        finally:
            store.rm(root, recursive=True)
    assert status == "Stopped"
    assert ex.list_steps()[0]["StepStatus"] == "Stopped"
    assert not job_started, "the job was launched after the stop request"


def test_the_run_lock_names_its_holder_and_is_released_on_exit(sy):
    from stackyard.engine._runner import RunLock

    with RunLock("lock-test"):
        assert RunLock("lock-test").held_elsewhere()
        with pytest.raises(UsageError, match=f"driven by pid {os.getpid()}"), RunLock("lock-test"):
            pass
    assert not RunLock("lock-test").held_elsewhere()
    with RunLock("lock-test"):   # free again after release
        pass
