"""Tuning jobs end to end: real training jobs, real Optuna, real SQLite."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stackyard.errors import DefinitionError, NotFoundError, StackyardError
from stackyard.jobs import Estimator
from stackyard.store import open_store
from stackyard.tuning import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    TuningJobCompletionCriteriaConfig,
    WarmStartConfig,
    WarmStartTypes,
)
from stackyard.tuning._orchestrator import TuningRun

QUADRATIC = """
import argparse, os, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float); p.add_argument("--y", type=int, default=0)
p.add_argument("--epochs", type=int, default=1); p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
with open(os.environ["TRIAL_LOG"], "a") as f:
    f.write(f"{a.x} {a.y}\\n")
for e in range(a.epochs):
    time.sleep(a.sleep)
    print(f"loss={(a.x - 0.3) ** 2 + 0.01 * (a.y - 2) ** 2:.6f};", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write(str(a.x))
"""
METRICS = [{"Name": "loss", "Regex": "loss=([0-9.]+);"}]


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "code"
    d.mkdir()
    (d / "obj.py").write_text(QUADRATIC)
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRIAL_LOG", str(tmp_path / "trials.log"))
    return d


def make(code: Path, **kw) -> HyperparameterTuner:
    hps = kw.pop("hyperparameters", {})
    est = Estimator(entry_point="obj.py", source_dir=str(code), hyperparameters=hps,
                    metric_definitions=kw.pop("metric_definitions", METRICS))
    ranges = kw.pop("ranges", {"x": ContinuousParameter(0, 1), "y": IntegerParameter(0, 4)})
    return HyperparameterTuner(est, kw.pop("objective", "loss"), ranges,
                               objective_type="Minimize", **kw)


def test_fit_finds_best_and_reports_every_trial(code: Path) -> None:
    t = make(code, max_jobs=6, max_parallel_jobs=2, random_seed=3, strategy="Random")
    t.fit(job_name="t1")
    df = t.analytics().dataframe()
    assert len(df) == 6 and set(df["TrainingJobStatus"]) == {"Completed"}
    best = t.describe()["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(
        df["FinalObjectiveValue"].min())
    assert t.best_training_job() == best["TrainingJobName"]
    tops = t.describe()["TopModelArtifacts"]
    assert len(tops) == 6 and tops[0] == best["ModelArtifacts"]["S3ModelArtifacts"]
    est = t.best_estimator()
    assert est.model_data == tops[0]
    assert float(est.hyperparameters()["x"]) == pytest.approx(float(
        best["TunedHyperParameters"]["x"]))
    # attach gives the same answers from the store alone
    again = HyperparameterTuner.attach("t1")
    assert again.best_training_job() == t.best_training_job()


def test_bayesian_differs_from_random_after_startup(code: Path) -> None:
    a = make(code, max_jobs=8, random_seed=0, strategy="Bayesian")
    b = make(code, max_jobs=8, random_seed=0, strategy="Random")
    a.fit(job_name="bayes")
    b.fit(job_name="rand")
    xa = list(a.analytics().dataframe().sort_values("TrainingJobName")["x"])
    xb = list(b.analytics().dataframe().sort_values("TrainingJobName")["x"])
    assert xa[:2] == xb[:2]  # both start from the same random proposals
    assert xa[2:] != xb[2:]  # then the model takes over (2 start-up trials, not 10)


@pytest.mark.parametrize("bad", [
    lambda: ContinuousParameter(2, 1),
    lambda: ContinuousParameter(0, 1, "Logarithmic"),
    lambda: IntegerParameter(-1, 5, "Logarithmic"),
    lambda: ContinuousParameter(0.5, 1.0, "ReverseLogarithmic"),
    lambda: CategoricalParameter([]),
    lambda: ContinuousParameter(0, 1, "Sideways"),
])
def test_invalid_ranges_fail_before_any_trial(bad) -> None:
    with pytest.raises(DefinitionError):
        bad()


def test_grid_rejects_continuous_and_objective_needs_a_definition(code: Path) -> None:
    with pytest.raises(DefinitionError, match="continuous"):
        make(code, strategy="Grid")
    with pytest.raises(DefinitionError, match="no metric definition"):
        make(code, objective="validation:auc")
    assert open_store().list_tuning_jobs() == []


def test_grid_enumerates_the_whole_space(code: Path) -> None:
    t = make(code, strategy="Grid", ranges={"x": CategoricalParameter([0.1, 0.3, 0.5]),
                                            "y": IntegerParameter(1, 2)})
    assert t.max_jobs == 6
    t.fit(job_name="grid")
    df = t.analytics().dataframe()
    assert sorted(zip(df["x"].astype(float), df["y"], strict=True)) == sorted(
        (x, y) for x in (0.1, 0.3, 0.5) for y in (1, 2))


def test_missing_objective_metric_fails_each_trial_and_the_job(code: Path) -> None:
    t = make(code, max_jobs=2, metric_definitions=[{"Name": "loss", "Regex": "LOSS:([0-9.]+)"}])
    with pytest.raises(StackyardError, match="all 2 training jobs failed"):
        t.fit(job_name="nometric")
    job = open_store().get_tuning_job("nometric")
    assert job["status"] == "Failed"
    for trial in open_store().get_trials("nometric"):
        assert trial["status"] == "Failed"
        assert "never appeared in the training log" in trial["failure_reason"]


def test_early_stopping_stops_trials_worse_than_the_median(code: Path) -> None:
    t = make(code, max_jobs=8, strategy="Random", random_seed=0, early_stopping_type="Auto",
             hyperparameters={"epochs": 6, "sleep": 0.15})
    t.fit(job_name="es")
    trials = open_store().get_trials("es")
    stopped = [x for x in trials if x["status"] == "Stopped"]
    assert stopped, "no trial was stopped early"
    for x in stopped:
        assert "stopped early" in x["failure_reason"]
    assert any(x["status"] == "Completed" for x in trials)


def test_completion_criteria_target_stops_early(code: Path) -> None:
    t = make(code, max_jobs=10, random_seed=1, strategy="Random",
             completion_criteria_config=TuningJobCompletionCriteriaConfig(
                 target_objective_metric_value=10.0))  # every trial reaches it
    t.fit(job_name="target")
    assert len(open_store().get_trials("target")) == 1
    assert "target" in open_store().get_tuning_job("target")["failure_reason"]


def test_warm_start_replays_parent_trials(code: Path) -> None:
    make(code, max_jobs=3, random_seed=0, strategy="Random").fit(job_name="parent")
    child = make(code, max_jobs=1, random_seed=1, warm_start_config=WarmStartConfig(
        WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, parents={"parent"}))
    child.fit(job_name="child")
    study = TuningRun("child")._study()
    assert len(study.trials) == 3 + 1  # the parent's three, then its own
    with pytest.raises(NotFoundError, match="warm start parent"):
        make(code, max_jobs=1, warm_start_config=WarmStartConfig(
            "TransferLearning", parents={"nope"})).fit(job_name="orphan")


@pytest.mark.slow
def test_kill_9_then_resume_repeats_no_finished_trial(code: Path, tmp_path: Path, sy) -> None:
    script = tmp_path / "tune.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_tuning_jobs import make
from pathlib import Path
make(Path({str(code)!r}), max_jobs=4, max_parallel_jobs=2, random_seed=0, strategy="Random",
     hyperparameters={{"epochs": 1, "sleep": 1.5}}).fit(job_name="dur")
""")
    proc = subprocess.Popen([sys.executable, str(script)], env=os.environ.copy(),
                            start_new_session=True)
    def two_done_and_more_started() -> bool:
        rows = open_store().get_trials("dur") if open_store().get_tuning_job("dur") else []
        return sum(r["status"] == "Completed" for r in rows) >= 2 and len(rows) >= 3

    sy.wait_until(two_done_and_more_started, timeout=60, what="two finished trials")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    out = subprocess.run([str(Path(sys.executable).parent / "stackyard"), "tuning", "resume",
                          "dur"], check=False, capture_output=True, text=True,
                         env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    rows = open_store().get_trials("dur")
    assert [r["number"] for r in rows] == [1, 2, 3, 4]
    assert all(r["status"] == "Completed" for r in rows)
    lines = (tmp_path / "trials.log").read_text().splitlines()
    assert len(lines) == 4, lines  # each trial's job ran exactly once


def test_cli_lists_and_describes_best_first(code: Path) -> None:
    make(code, max_jobs=3, random_seed=2, strategy="Random").fit(job_name="cli")
    exe = str(Path(sys.executable).parent / "stackyard")
    listed = json.loads(subprocess.run([exe, "tuning", "list", "--json"], capture_output=True,
                                       text=True, check=True).stdout)
    assert [r["name"] for r in listed] == ["cli"] and listed[0]["trials"] == 3
    desc = json.loads(subprocess.run([exe, "tuning", "describe", "cli", "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    objectives = [t["objective"] for t in desc["trials"]]
    assert objectives == sorted(objectives)
    assert desc["BestTrainingJob"]["TrainingJobName"] == desc["trials"][0]["training_job_name"]
    bad = subprocess.run([exe, "tuning", "describe", "nope"], check=False, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "no tuning job" in bad.stderr


def _hyperband(code: Path, sleep: float) -> list[tuple[str, str | None]]:
    make(code, max_jobs=10, strategy="Hyperband", random_seed=0,
         hyperparameters={"epochs": 9, "sleep": sleep}).fit(job_name="hb")
    return [(r["status"], r["failure_reason"]) for r in open_store().get_trials("hb")]


@pytest.mark.slow
def test_hyperband_prunes_on_per_epoch_metric(code: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials are stopped part-way by their per-epoch metric, and which ones does not depend
    on timing: how many epochs a stopped trial prints before the signal lands varies with
    load (here: 50 ms epochs, then no pause at all, in a fresh home with the same job name,
    so Hyperband's brackets are the same), yet the same trials stop at the same report."""
    slow = _hyperband(code, 0.05)
    statuses = [s for s, _ in slow]
    assert "Stopped" in statuses and statuses.count("Completed") >= 5
    for status, reason in slow:
        if status == "Stopped":
            assert int(re.search(r"stopped early at report (\d+)", reason)[1]) < 9, reason
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home-fast"))
    assert _hyperband(code, 0) == slow
