"""max_runtime_in_seconds / max_run end the job's whole process group."""

from __future__ import annotations

import re
import time

import pytest

from stackyard.jobs import Estimator, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, RetryPolicy, TrainingStep

SPAWNER = """
import os, subprocess, time
child = subprocess.Popen(["sleep", "300"])
with open(PIDS, "w") as f:
    f.write(f"{os.getpid()} {child.pid}\\n")
time.sleep(300)
"""


def _pids(path):
    return [int(x) for x in path.read_text().split()]


@pytest.mark.timeout(60)
def test_max_runtime_kills_the_whole_process_group(sy):
    pids = sy.tmp / "pids"
    code = sy.write("code/spawn.py", SPAWNER, PIDS=str(pids))
    s = ProcessingStep("Slow", processor=ScriptProcessor(command=["python3"],
                                                         max_runtime_in_seconds=1),
                       code=str(code), retry_policies=[
                           RetryPolicy(exception_types=["JobError"], interval_seconds=0)])
    t0 = time.monotonic()
    ex = Pipeline("timeout", steps=[s]).start()
    assert ex.wait() == "Failed"
    assert time.monotonic() - t0 < 10
    job, child = _pids(pids)
    sy.wait_until(lambda: not sy.pid_alive(job) and not sy.pid_alive(child), timeout=5,
                  what="the job and its child to be gone")
    (st,) = ex.list_steps()
    assert re.search(r"max.?runtime", st["FailureReason"])
    assert st["AttemptCount"] == 1       # a Timeout is not a JobError: no retry
    log = sy.home / "runs" / ex.run_id / "jobs" / "Slow" / "attempt-1" / "log.txt"
    assert "max runtime of 1.0s reached" in log.read_text()


@pytest.mark.timeout(60)
def test_a_timeout_can_be_retried_by_a_timeout_policy(sy):
    code = sy.write("code/sleepy.py", "import time; time.sleep(30)\n")
    s = ProcessingStep("Sleepy", processor=ScriptProcessor(command=["python3"],
                                                           max_runtime_in_seconds=1),
                       code=str(code), retry_policies=[
                           RetryPolicy(exception_types=["Timeout"], interval_seconds=0,
                                       max_attempts=1)])
    ex = Pipeline("timeout-retry", steps=[s]).start()
    assert ex.wait() == "Failed"
    assert ex.list_steps()[0]["AttemptCount"] == 2


@pytest.mark.timeout(60)
def test_estimator_max_run_kills_the_job(sy):
    pids = sy.tmp / "pids"
    sy.write("src/train.py", SPAWNER, PIDS=str(pids))
    t = TrainingStep("Train", estimator=Estimator(entry_point="train.py",
                                                  source_dir=str(sy.work / "src"), max_run=1))
    t0 = time.monotonic()
    ex = Pipeline("max-run", steps=[t]).start()
    assert ex.wait() == "Failed"
    assert time.monotonic() - t0 < 10
    job, child = _pids(pids)
    sy.wait_until(lambda: not sy.pid_alive(job) and not sy.pid_alive(child), timeout=5,
                  what="the training job and its child to be gone")
    assert re.search(r"max.?runtime", ex.list_steps()[0]["FailureReason"])


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_job_that_ignores_sigterm_is_killed(sy):
    pids = sy.tmp / "pids"
    code = sy.write("code/stubborn.py", """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(PIDS, "w").write(str(os.getpid()))
        while True:
            time.sleep(0.1)
    """, PIDS=str(pids))
    s = ProcessingStep("Stubborn", processor=ScriptProcessor(command=["python3"],
                                                             max_runtime_in_seconds=1),
                       code=str(code))
    t0 = time.monotonic()
    ex = Pipeline("stubborn", steps=[s]).start()
    assert ex.wait() == "Failed"
    took = time.monotonic() - t0
    assert 5 <= took < 15                 # SIGTERM, then SIGKILL after 5 s
    assert not sy.pid_alive(int(pids.read_text()))
    assert re.search(r"max.?runtime", ex.list_steps()[0]["FailureReason"])
