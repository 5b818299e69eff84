"""TuningStep inside a pipeline: top models and the best job feed later steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackyard.jobs import Estimator
from stackyard.tuning import ContinuousParameter, HyperparameterTuner
from stackyard.workflow import Pipeline, PipelineSession, TuningStep, step

SCRIPT = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--x", type=float); a = p.parse_args()
print(f"score={1 - (a.x - 0.5) ** 2:.6f};")
open(os.path.join(os.environ["SM_MODEL_DIR"], "x.txt"), "w").write(str(a.x))
"""


def test_tuning_step_feeds_best_model_to_next_step(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    (tmp_path / "s.py").write_text(SCRIPT)
    est = Estimator(entry_point="s.py", source_dir=str(tmp_path),
                    metric_definitions=[{"Name": "score", "Regex": "score=([0-9.]+);"}],
                    sagemaker_session=PipelineSession())
    tuner = HyperparameterTuner(est, "score", {"x": ContinuousParameter(0, 1)},
                                objective_type="Maximize", max_jobs=3, max_parallel_jobs=2,
                                random_seed=0)
    tune = TuningStep("Tune", step_args=tuner.fit())

    @step(name="Use")
    def use(model_uri: str, best_score: float, second: str) -> dict:
        return {"model": model_uri, "score": best_score, "second": second}

    result = use(tune.get_top_model_s3_uri(0),
                 tune.properties.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value,
                 tune.get_top_model_s3_uri(1))
    ex = Pipeline("tune-pipe", steps=[result]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    out = ex.result("Use")
    props = next(s for s in ex.list_steps() if s["StepName"] == "Tune")["Metadata"]
    assert out["model"] == props["TopModelArtifacts"][0] != out["second"]
    assert out["score"] == props["BestTrainingJob"][
        "FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert props["TrainingJobStatusCounters"] == {"Completed": 3}


def test_top_model_index_beyond_budget_is_a_definition_error(tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    (tmp_path / "s.py").write_text(SCRIPT)
    est = Estimator(entry_point="s.py", source_dir=str(tmp_path),
                    metric_definitions=[{"Name": "score", "Regex": "score=([0-9.]+);"}])
    tuner = HyperparameterTuner(est, "score", {"x": ContinuousParameter(0, 1)}, max_jobs=2)
    tune = TuningStep("Tune", tuner=tuner)

    @step
    def use(uri):
        return uri

    from stackyard.errors import DefinitionError

    with pytest.raises(DefinitionError, match="no top model 5"):
        Pipeline("p", steps=[use(tune.get_top_model_s3_uri(5))]).start()


def test_lineage_of_a_tuned_model_shows_the_trials_hyperparameters(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry reads a trial's tuned hyperparameters from the store (the sampler's
    values decoded by tuning when the trial started), with no tuning code of its own: a
    ReverseLogarithmic range, sampled internally as 1 - x, shows as the x the job got."""
    from stackyard.jobs import Model
    from stackyard.registry import ModelRegistry
    from stackyard.workflow import ModelStep

    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    (tmp_path / "s.py").write_text(SCRIPT.replace("p.parse_args()", "p.parse_known_args()[0]"))
    s = PipelineSession()
    est = Estimator(entry_point="s.py", source_dir=str(tmp_path), hyperparameters={"k": 1},
                    metric_definitions=[{"Name": "score", "Regex": "score=([0-9.]+);"}],
                    sagemaker_session=s)
    tuner = HyperparameterTuner(est, "score",
                                {"x": ContinuousParameter(0.01, 0.9, "ReverseLogarithmic")},
                                objective_type="Maximize", max_jobs=2, max_parallel_jobs=2,
                                random_seed=0)
    tune = TuningStep("Tune", step_args=tuner.fit())
    reg = ModelStep("Register", step_args=Model(
        model_data=tune.get_top_model_s3_uri(0), sagemaker_session=s).register(
        model_package_group_name="tuned"))
    ex = Pipeline("tune-lineage", steps=[reg]).start()
    assert ex.wait() == "Succeeded", ex.describe()["failure_reason"]
    best = next(x for x in ex.list_steps() if x["StepName"] == "Tune")["Metadata"][
        "BestTrainingJob"]
    tuned = ModelRegistry().describe("tuned/1")["lineage"]["model"]["produced_by"]
    assert tuned["type"] == "Tuning" and tuned["training_job"] == best["TrainingJobName"]
    assert tuned["hyperparameters"]["k"] == 1
    assert str(tuned["hyperparameters"]["x"]) == best["TunedHyperParameters"]["x"]
    assert 0.01 <= tuned["hyperparameters"]["x"] <= 0.9
