"""``HyperparameterTuner``: SageMaker's automatic model tuning, backed by Optuna."""

from __future__ import annotations

import time
from typing import Any

from stackyard._checks import check_name
from stackyard.errors import DefinitionError, NotFoundError, UsageError
from stackyard.jobs._common import JobArgs, check_kwargs, in_pipeline
from stackyard.jobs._training import Estimator
from stackyard.store import open_store
from stackyard.tuning._ranges import ParameterRange, grid_size, ranges_definition

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")


class WarmStartTypes:
    IDENTICAL_DATA_AND_ALGORITHM = "IdenticalDataAndAlgorithm"
    TRANSFER_LEARNING = "TransferLearning"


class WarmStartConfig:
    """Start from the finished trials of parent tuning jobs (their results seed the model)."""

    def __init__(self, warm_start_type: str, parents: set[str] | list[str]) -> None:
        kind = getattr(warm_start_type, "value", warm_start_type)
        if kind not in (WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM,
                        WarmStartTypes.TRANSFER_LEARNING):
            raise DefinitionError(f"warm_start_type {kind!r} is not IdenticalDataAndAlgorithm "
                                  "or TransferLearning")
        if not parents:
            raise DefinitionError("WarmStartConfig needs at least one parent tuning job")
        self.type = kind
        self.parents = sorted(parents)

    def to_definition(self) -> dict[str, Any]:
        return {"WarmStartType": self.type, "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": p} for p in self.parents]}


class TuningJobCompletionCriteriaConfig:
    """Stop early: at a target objective value, or after N trials without improvement."""

    def __init__(self, max_number_of_training_jobs_not_improving: int | None = None,
                 complete_on_convergence: bool | None = None,
                 target_objective_metric_value: float | None = None) -> None:
        self.patience = max_number_of_training_jobs_not_improving
        self.target = target_objective_metric_value

    def to_definition(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.target is not None:
            d["TargetObjectiveMetricValue"] = float(self.target)
        if self.patience:
            d["BestObjectiveNotImproving"] = {"MaxNumberOfTrainingJobsNotImproving":
                                              int(self.patience)}
        return d


class HyperparameterTuner:
    """Tune an estimator's hyperparameters; every trial is a real training job.

    >>> tuner = HyperparameterTuner(estimator, "validation:rmse",
    ...     {"eta": ContinuousParameter(0.05, 0.3), "max_depth": IntegerParameter(2, 6)},
    ...     objective_type="Minimize", max_jobs=8, max_parallel_jobs=2)
    >>> tuner.fit({"train": ..., "validation": ...})        # doctest: +SKIP
    """

    def __init__(
        self,
        estimator: Estimator,
        objective_metric_name: str,
        hyperparameter_ranges: dict[str, ParameterRange],
        metric_definitions: list[dict[str, str]] | None = None,
        strategy: str = "Bayesian",
        objective_type: str = "Maximize",
        max_jobs: int | None = None,
        max_parallel_jobs: int = 1,
        early_stopping_type: str = "Off",
        warm_start_config: WarmStartConfig | None = None,
        random_seed: int | None = None,
        completion_criteria: TuningJobCompletionCriteriaConfig | dict | None = None,
        base_tuning_job_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_kwargs("HyperparameterTuner", {k: v for k, v in kwargs.items()
                                             if k not in ("tags", "strategy_config",
                                                          "max_runtime_in_seconds")})
        if strategy not in STRATEGIES:
            raise DefinitionError(f"strategy {strategy!r} is not one of {STRATEGIES}")
        if objective_type not in ("Minimize", "Maximize"):
            raise DefinitionError(f"objective_type {objective_type!r}: Minimize or Maximize")
        if early_stopping_type not in ("Off", "Auto"):
            raise DefinitionError(f"early_stopping_type {early_stopping_type!r}: Off or Auto")
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self.hyperparameter_ranges = dict(hyperparameter_ranges)
        self._ranges = ranges_definition(self.hyperparameter_ranges)
        self.metric_definitions = list(metric_definitions or estimator.metric_definitions)
        if objective_metric_name not in {m["Name"] for m in self.metric_definitions}:
            raise DefinitionError(
                f"objective metric {objective_metric_name!r} has no metric definition; add "
                f"{{'Name': {objective_metric_name!r}, 'Regex': ...}} to metric_definitions")
        if max_jobs is None:
            max_jobs = grid_size(self._ranges) if strategy == "Grid" else 1
        if max_jobs < 1 or max_parallel_jobs < 1:
            raise DefinitionError("max_jobs and max_parallel_jobs must be >= 1")
        if strategy == "Grid":
            grid_size(self._ranges)  # raises for continuous ranges
        self.strategy = strategy
        self.objective_type = objective_type
        self.max_jobs = int(max_jobs)
        self.max_parallel_jobs = int(max_parallel_jobs)
        self.early_stopping_type = early_stopping_type
        self.warm_start_config = warm_start_config
        self.random_seed = random_seed
        if isinstance(completion_criteria, TuningJobCompletionCriteriaConfig):
            completion_criteria = completion_criteria.to_definition()
        self.completion_criteria = completion_criteria or {}
        self.base_tuning_job_name = base_tuning_job_name
        self.latest_tuning_job: str | None = None

    # ---- the request ---------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "Strategy": self.strategy,
            "HyperParameterTuningJobObjective": {"Type": self.objective_type,
                                                 "MetricName": self.objective_metric_name},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": self.max_jobs,
                               "MaxParallelTrainingJobs": self.max_parallel_jobs},
            "ParameterRanges": self._ranges,
            "TrainingJobEarlyStoppingType": self.early_stopping_type,
        }
        if self.random_seed is not None:
            cfg["RandomSeed"] = int(self.random_seed)
        if self.completion_criteria:
            cfg["TuningJobCompletionCriteria"] = self.completion_criteria
        out: dict[str, Any] = {"HyperParameterTuningJobConfig": cfg}
        if self.warm_start_config is not None:
            out["WarmStartConfig"] = self.warm_start_config.to_definition()
        return out

    def request(self, inputs: Any = None) -> dict[str, Any]:
        """SageMaker's CreateHyperParameterTuningJob shape (config + training definition)."""
        training = self.estimator.request(inputs)
        training["AlgorithmSpecification"]["MetricDefinitions"] = self.metric_definitions
        tuned = set(self.hyperparameter_ranges)
        training["HyperParameters"] = {k: v for k, v in training["HyperParameters"].items()
                                       if k not in tuned}
        return {**self.config(), "TrainingJobDefinition": training}

    # ---- run -----------------------------------------------------------------------
    def fit(self, inputs: Any = None, job_name: str | None = None, wait: bool = True,
            **kwargs: Any) -> Any:
        """In a pipeline session: step arguments for ``TuningStep``. Otherwise tune now,
        with a live progress bar; a ``job_name`` that exists and is unfinished resumes."""
        check_kwargs("fit", {k: v for k, v in kwargs.items()
                             if k not in ("include_cls_metadata", "estimator_kwargs")})
        req = self.request(inputs)
        if in_pipeline(self.estimator.sagemaker_session):
            return JobArgs("Tuning", req, self)
        name = job_name or f"{self.base_tuning_job_name or 'tuning'}-" + time.strftime(
            "%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
        start_tuning_job(name, req)
        self.latest_tuning_job = name
        from stackyard.tuning._progress import run_with_progress

        run_with_progress(name)
        return self

    def _name(self) -> str:
        if self.latest_tuning_job is None:
            raise UsageError("this tuner has not run yet: call fit() or attach()")
        return self.latest_tuning_job

    def describe(self) -> dict[str, Any]:
        from stackyard.tuning._orchestrator import summary

        return summary(self._name())

    def best_training_job(self) -> str:
        best = self.describe().get("BestTrainingJob")
        if best is None:
            raise UsageError(f"tuning job {self._name()} has no completed training job")
        return best["TrainingJobName"]

    def best_estimator(self) -> Estimator:
        """An estimator with the best trial's hyperparameters and ``model_data`` set."""
        from stackyard.tuning._orchestrator import trials_table

        best_name = self.best_training_job()
        row = next(r for r in trials_table(self._name()) if r["training_job_name"] == best_name)
        job = open_store().get_tuning_job(self._name())
        assert job is not None
        code = job["request"]["Code"]
        est = Estimator(entry_point=_entry(code), source_dir=code["SourceDir"],
                        hyperparameters={**job["request"]["HyperParameters"],
                                         **row["hyperparameters"]},
                        metric_definitions=job["request"]["AlgorithmSpecification"][
                            "MetricDefinitions"])
        est.model_data = row["model_uri"]
        return est

    def analytics(self) -> TuningAnalytics:
        return TuningAnalytics(self._name())

    @classmethod
    def attach(cls, tuning_job_name: str, **_: Any) -> HyperparameterTuner:
        """A tuner bound to an existing tuning job (its results; ``fit`` is not needed)."""
        job = open_store().get_tuning_job(tuning_job_name)
        if job is None:
            raise NotFoundError(f"no tuning job {tuning_job_name!r}; see `stackyard tuning list`")
        tuner = cls.__new__(cls)
        cfg = job["config"]["HyperParameterTuningJobConfig"]
        code = job["request"]["Code"]
        tuner.estimator = Estimator(entry_point=_entry(code), source_dir=code["SourceDir"],
                                    hyperparameters=job["request"]["HyperParameters"])
        tuner.objective_metric_name = cfg["HyperParameterTuningJobObjective"]["MetricName"]
        tuner.objective_type = cfg["HyperParameterTuningJobObjective"]["Type"]
        tuner.strategy = cfg["Strategy"]
        tuner.max_jobs = cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
        tuner.max_parallel_jobs = cfg["ResourceLimits"]["MaxParallelTrainingJobs"]
        tuner.metric_definitions = job["request"]["AlgorithmSpecification"]["MetricDefinitions"]
        tuner.latest_tuning_job = tuning_job_name
        return tuner


class TuningAnalytics:
    def __init__(self, name: str) -> None:
        self.name = name

    def dataframe(self) -> Any:
        """One row per training job, as SageMaker's tuner analytics gives."""
        import pandas as pd

        from stackyard.tuning._orchestrator import trials_table

        rows = []
        for r in trials_table(self.name):
            rows.append({**r["hyperparameters"], "TrainingJobName": r["training_job_name"],
                         "TrainingJobStatus": r["status"], "FinalObjectiveValue": r["objective"],
                         "TrainingStartTime": r["start_time"], "TrainingEndTime": r["end_time"],
                         "TrainingElapsedTimeSeconds": (r["end_time"] - r["start_time"])
                         if r["end_time"] else None})
        return pd.DataFrame(rows)


def _entry(code: dict[str, Any]) -> str:
    return code["EntryPoint"] if code.get("SourceDir") else code["EntryPointPath"]


def start_tuning_job(name: str, request: dict[str, Any]) -> bool:
    """Record a tuning job (False if it exists already and will resume)."""
    check_name(name, "tuning job")
    config = {k: v for k, v in request.items() if k != "TrainingJobDefinition"}
    warm = config.get("WarmStartConfig") or {}
    store = open_store()
    for p in warm.get("ParentHyperParameterTuningJobs", []):
        if store.get_tuning_job(p["HyperParameterTuningJobName"]) is None:
            raise NotFoundError(f"warm start parent {p['HyperParameterTuningJobName']!r} "
                                "does not exist; see `stackyard tuning list`")
    return store.create_tuning_job(name, config, request["TrainingJobDefinition"])
