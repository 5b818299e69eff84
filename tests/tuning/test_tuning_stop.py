"""Stopping a tuning job: no new trial starts, and the live trials' processes end.

Every way to stop is covered: ``runs stop`` (or ``execution.stop()``) of a pipeline whose
TuningStep is running, ``runs stop`` after the runner was killed with ``kill -9``, Ctrl-C on
``stackyard run``, and Ctrl-C on a tuning job run alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from stackyard import engine
from stackyard.store import open_store

SLOW_TRIAL = """
import argparse, os, time
p = argparse.ArgumentParser(); p.add_argument("--x", type=float); a = p.parse_args()
with open(PIDS, "a") as f:
    f.write(f"{os.getpid()}\\n")
print("score=0.5;", flush=True)
time.sleep(300)
"""

TUNER = """
from stackyard.jobs import Estimator
from stackyard.tuning import ContinuousParameter, HyperparameterTuner
from stackyard.workflow import Pipeline, PipelineSession, TuningStep

def tuner(session=None):
    est = Estimator(entry_point="slow.py", source_dir=CODE, sagemaker_session=session,
                    metric_definitions=[{"Name": "score", "Regex": "score=([0-9.]+);"}])
    return HyperparameterTuner(est, "score", {"x": ContinuousParameter(0, 1)},
                               objective_type="Maximize", max_jobs=12, max_parallel_jobs=2,
                               strategy="Random", random_seed=0)

pipeline = Pipeline("tune-stop", steps=[
    TuningStep("Tune", step_args=tuner(PipelineSession()).fit())])
"""


@pytest.fixture
def tuning_file(sy):
    code = sy.work / "code"
    sy.write("code/slow.py", SLOW_TRIAL, PIDS=str(sy.tmp / "trial-pids"))
    return sy.write("tune_stop.py", TUNER, CODE=str(code))


def _two_trials_started(sy) -> list[int]:
    pids = sy.tmp / "trial-pids"
    sy.wait_until(lambda: len(sy.lines(pids)) >= 2, timeout=60, what="two trials to start")
    return [int(x) for x in sy.lines(pids)]


def _assert_stopped(sy, job: str, trial_pids: list[int]) -> None:
    sy.wait_until(lambda: not any(sy.pid_alive(p) for p in trial_pids), timeout=20,
                  what="the live trials' processes to end")
    trials = open_store().get_trials(job)
    assert [t["number"] for t in trials] == [1, 2], "a trial was launched after the stop"
    assert {t["status"] for t in trials} == {"Stopped"}
    assert open_store().get_tuning_job(job)["status"] == "Stopped"
    assert len(sy.lines(sy.tmp / "trial-pids")) == 2


def _run_id(sy) -> str:
    return sy.wait_until(lambda: (sy.db_query("SELECT run_id FROM runs") or [None])[0],
                         what="the run row")[0]


@pytest.mark.timeout(90)
def test_stopping_a_run_stops_its_tuning_step(sy, tuning_file):
    """Regression: trials kept launching until max_jobs after the run was stopped."""
    from stackyard.cli._runs import load_pipeline

    ex = load_pipeline(tuning_file).start()
    pids = _two_trials_started(sy)
    ex.stop()
    assert ex.wait(timeout=30) == "Stopped"
    assert {s["StepName"]: s["StepStatus"] for s in ex.list_steps()} == {"Tune": "Stopped"}
    _assert_stopped(sy, f"Tune-{ex.run_id}", pids)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_ctrl_c_on_stackyard_run_stops_the_tuning_step(sy, tuning_file):
    runner = sy.cli_popen("run", tuning_file, "-q")
    pids = _two_trials_started(sy)
    run_id = _run_id(sy)
    runner.send_signal(signal.SIGINT)
    out, _ = runner.communicate(timeout=30)
    assert runner.returncode == 1, out
    assert engine.describe_run(run_id)["status"] == "Stopped"
    _assert_stopped(sy, f"Tune-{run_id}", pids)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_runs_stop_after_kill_9_stops_the_orphaned_trials(sy, reaper, tuning_file):
    runner = sy.cli_popen("run", tuning_file, "-q")
    pids = _two_trials_started(sy)
    run_id = _run_id(sy)
    job = f"Tune-{run_id}"
    launchers = sy.wait_until(lambda: [t["pid"] for t in open_store().get_trials(job)
                                       if t["pid"]] if len(open_store().get_trials(job)) == 2
                              and all(t["pid"] for t in open_store().get_trials(job))
                              else None, what="the trials' launcher pids")
    for pid in launchers:
        reaper.watch(pid)       # a normal init reaps the orphaned launchers
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)
    assert all(sy.pid_alive(p) for p in pids), "trials should outlive the killed runner"
    r = sy.cli("runs", "stop", run_id)
    assert r.returncode == 0 and "Stopped" in r.stdout, r.stdout + r.stderr
    assert engine.describe_run(run_id)["status"] == "Stopped"
    _assert_stopped(sy, job, pids)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_ctrl_c_on_a_tuning_job_run_alone_stops_it(sy, tuning_file):
    script = sy.write("alone.py", """
        import sys
        sys.path.insert(0, WORK)
        from tune_stop import tuner
        print(tuner().fit(job_name="alone", wait=True) is None, flush=True)
    """, WORK=str(sy.work))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=str(sy.work),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = _two_trials_started(sy)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    _assert_stopped(sy, "alone", pids)
