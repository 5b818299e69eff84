"""The tuner's SDK arguments: strategy_config feeds Hyperband, max_runtime_in_seconds is a
deadline, attach gives a complete tuner, and fit never reuses an existing job silently."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from stackyard.errors import DefinitionError, StackyardError, UsageError
from stackyard.jobs import Estimator
from stackyard.store import open_store
from stackyard.tuning import (
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    IntegerParameter,
    StrategyConfig,
    TuningJobCompletionCriteriaConfig,
)
from stackyard.tuning._orchestrator import _pruner
from stackyard.tuning._ranges import distributions

SCRIPT = """
import argparse, os, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float); p.add_argument("--y", type=int, default=0)
p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
open(os.path.join(os.environ["TRIAL_PIDS"], str(os.getpid())), "w").close()
time.sleep(a.sleep)
print(f"loss={(a.x - 0.3) ** 2:.6f};", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write(str(a.x))
"""
METRICS = [{"Name": "loss", "Regex": "loss=([0-9.]+);"}]


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "code dir ü"
    d.mkdir()
    (d / "obj.py").write_text(SCRIPT)
    (tmp_path / "pids").mkdir()
    monkeypatch.setenv("TRIAL_PIDS", str(tmp_path / "pids"))
    return d


def make(code: Path, sleep: float = 0, **kw) -> HyperparameterTuner:
    est = Estimator(entry_point="obj.py", source_dir=str(code), metric_definitions=METRICS,
                    hyperparameters={"sleep": sleep})
    return HyperparameterTuner(est, "loss", kw.pop("ranges", {"x": ContinuousParameter(0, 1)}),
                               objective_type="Minimize", **kw)


def test_strategy_config_feeds_the_hyperband_pruner(code: Path) -> None:
    """Regression: strategy_config was accepted and dropped."""
    t = make(code, strategy="Hyperband", max_jobs=4, strategy_config=StrategyConfig(
        HyperbandStrategyConfig(min_resource=3, max_resource=27)))
    cfg = t.request()["HyperParameterTuningJobConfig"]
    assert cfg["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 3,
                                                                 "MaxResource": 27}}
    pruner = _pruner(cfg)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert (pruner._min_resource, pruner._max_resource) == (3, 27)
    with pytest.raises(DefinitionError, match="Hyperband"):
        make(code, strategy="Bayesian", strategy_config=StrategyConfig(
            HyperbandStrategyConfig(min_resource=1, max_resource=9)))
    with pytest.raises(DefinitionError, match="min_resource 9 > max_resource 3"):
        HyperbandStrategyConfig(min_resource=9, max_resource=3)
    with pytest.raises(DefinitionError, match="convergence"):
        TuningJobCompletionCriteriaConfig(complete_on_convergence=True)


def _pids(code: Path) -> list[int]:
    return [int(p.name) for p in (code.parent / "pids").iterdir()]


@pytest.mark.slow
def test_max_runtime_ends_the_tuning_job(code: Path, sy) -> None:
    """Regression: max_runtime_in_seconds was dropped; 4 trials of 60 s ran for 2 minutes."""
    t = make(code, sleep=60, max_jobs=4, max_parallel_jobs=2, max_runtime_in_seconds=3,
             strategy="Random", random_seed=0)
    with pytest.raises(StackyardError, match="max_runtime_in_seconds .3 s., before any"):
        t.fit(job_name="deadline")
    trials = open_store().get_trials("deadline")
    assert len(trials) == 2  # nothing launched after the deadline
    assert {x["status"] for x in trials} == {"Stopped"}
    assert all("max_runtime_in_seconds" in x["failure_reason"] for x in trials)
    for pid in _pids(code):  # the trial processes are gone
        sy.wait_until(lambda pid=pid: not sy.pid_alive(pid), timeout=15, what=f"pid {pid}")
    job = open_store().get_tuning_job("deadline")
    assert job["status"] == "Failed" and "max_runtime_in_seconds" in job["failure_reason"]


def test_attach_gives_a_complete_tuner_and_fit_refuses_an_existing_name(code: Path) -> None:
    """Regression: attach() built a half tuner (fit raised AttributeError), and
    fit(job_name=<existing>) silently returned the old results."""
    crit = TuningJobCompletionCriteriaConfig(max_number_of_training_jobs_not_improving=5)
    first = make(code, max_jobs=2, strategy="Random", random_seed=1,
                 ranges={"x": ContinuousParameter(0, 1), "y": IntegerParameter(0, 3)},
                 completion_criteria_config=crit, max_runtime_in_seconds=600)
    first.fit(job_name="first")
    before = len(_pids(code))
    with pytest.raises(UsageError, match=r"'first' exists already.*attach\('first'\)"):
        first.fit(job_name="first")
    again = HyperparameterTuner.attach("first")
    assert again.best_training_job() == first.best_training_job()
    a, b = (t.config()["HyperParameterTuningJobConfig"] for t in (again, first))
    for key in ("Strategy", "HyperParameterTuningJobObjective", "ResourceLimits", "RandomSeed",
                "TuningJobCompletionCriteria", "TrainingJobEarlyStoppingType"):
        assert a[key] == b[key], key
    assert distributions(a["ParameterRanges"]) == distributions(b["ParameterRanges"])
    assert again.estimator.hyperparameters() == {"sleep": 0}
    with pytest.raises(UsageError, match="exists already"):
        again.fit(job_name="first")
    assert len(_pids(code)) == before  # nothing ran again
    again.fit(job_name="second")  # a complete tuner: a new job with the same settings
    trials = open_store().get_trials("second")
    assert len(trials) == 2 and {x["status"] for x in trials} == {"Completed"}
    assert set(trials[0]["params"]) == {"x", "y"}
    assert os.path.basename(again.best_estimator().model_data).endswith(".tar.gz")
