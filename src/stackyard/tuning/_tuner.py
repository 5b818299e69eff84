"""``HyperparameterTuner``: SageMaker's automatic model tuning, backed by Optuna."""

from __future__ import annotations

import time
from typing import Any

from stackyard._checks import KwargRules, check_name, check_number
from stackyard.errors import DefinitionError, NotFoundError, UsageError
from stackyard.jobs._common import count
from stackyard.jobs._training import Estimator
from stackyard.store import open_store
from stackyard.tuning._ranges import (
    ParameterRange,
    grid_size,
    ranges_definition,
    ranges_from_definition,
)
from stackyard.workflow._session import JobArgs, in_pipeline

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
# Keywords accepted and ignored (AWS-only); any other unknown keyword is a TypeError.
_TUNER = KwargRules(frozenset(), frozenset({"tags"}))
_FIT = KwargRules(frozenset(), frozenset({"include_cls_metadata"}))


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

    @classmethod
    def from_definition(cls, d: dict[str, Any]) -> WarmStartConfig:
        return cls(d["WarmStartType"], [p["HyperParameterTuningJobName"]
                                        for p in d["ParentHyperParameterTuningJobs"]])


class TuningJobCompletionCriteriaConfig:
    """Stop early: at a target objective value, or after N trials without improvement."""

    def __init__(self, max_number_of_training_jobs_not_improving: int | None = None,
                 complete_on_convergence: bool | None = None,
                 target_objective_metric_value: float | None = None) -> None:
        if complete_on_convergence:
            raise DefinitionError(
                "complete_on_convergence is not supported: stackyard does not detect "
                "convergence; use max_number_of_training_jobs_not_improving=N instead")
        self.patience = None if max_number_of_training_jobs_not_improving is None else \
            check_number(max_number_of_training_jobs_not_improving,
                         "max_number_of_training_jobs_not_improving", lo=1, integer=True)
        self.target = None if target_objective_metric_value is None else \
            check_number(target_objective_metric_value, "target_objective_metric_value")

    def to_definition(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.target is not None:
            d["TargetObjectiveMetricValue"] = float(self.target)
        if self.patience:
            d["BestObjectiveNotImproving"] = {"MaxNumberOfTrainingJobsNotImproving":
                                              int(self.patience)}
        return d

    @classmethod
    def from_definition(cls, d: dict[str, Any]) -> TuningJobCompletionCriteriaConfig:
        return cls((d.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"),
            target_objective_metric_value=d.get("TargetObjectiveMetricValue"))


class HyperbandStrategyConfig:
    """Hyperband's budget per trial, in objective reports (e.g. epochs): a trial is judged
    from ``min_resource`` reports on; ``max_resource`` sizes the brackets."""

    def __init__(self, max_resource: int | None = None, min_resource: int | None = None
                 ) -> None:
        self.min_resource = None if min_resource is None else check_number(
            min_resource, "min_resource", lo=1, integer=True)
        self.max_resource = None if max_resource is None else check_number(
            max_resource, "max_resource", lo=1, integer=True)
        if (self.min_resource is not None and self.max_resource is not None
                and self.min_resource > self.max_resource):
            raise DefinitionError(f"HyperbandStrategyConfig: min_resource {self.min_resource} "
                                  f"> max_resource {self.max_resource}")

    def to_definition(self) -> dict[str, Any]:
        d = {"MinResource": self.min_resource, "MaxResource": self.max_resource}
        return {k: v for k, v in d.items() if v is not None}


class StrategyConfig:
    """Settings of the search strategy; today only Hyperband has some."""

    def __init__(self, hyperband_strategy_config: HyperbandStrategyConfig) -> None:
        if not isinstance(hyperband_strategy_config, HyperbandStrategyConfig):
            raise DefinitionError("StrategyConfig needs hyperband_strategy_config="
                                  "HyperbandStrategyConfig(min_resource=..., max_resource=...)")
        self.hyperband_strategy_config = hyperband_strategy_config

    def to_definition(self) -> dict[str, Any]:
        return {"HyperbandStrategyConfig": self.hyperband_strategy_config.to_definition()}

    @classmethod
    def from_definition(cls, d: dict[str, Any]) -> StrategyConfig:
        hb = d.get("HyperbandStrategyConfig") or {}
        return cls(HyperbandStrategyConfig(hb.get("MaxResource"), hb.get("MinResource")))


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
        max_jobs: Any = None,
        max_parallel_jobs: Any = 1,
        max_runtime_in_seconds: Any = None,
        early_stopping_type: str = "Off",
        warm_start_config: WarmStartConfig | None = None,
        random_seed: int | None = None,
        strategy_config: StrategyConfig | None = None,
        completion_criteria_config: TuningJobCompletionCriteriaConfig | None = None,
        base_tuning_job_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        _TUNER.check("HyperparameterTuner", kwargs)
        if strategy not in STRATEGIES:
            raise DefinitionError(f"strategy {strategy!r} is not one of {STRATEGIES}")
        if objective_type not in ("Minimize", "Maximize"):
            raise DefinitionError(f"objective_type {objective_type!r}: Minimize or Maximize")
        if early_stopping_type not in ("Off", "Auto"):
            raise DefinitionError(f"early_stopping_type {early_stopping_type!r}: Off or Auto")
        if strategy_config is not None and (strategy != "Hyperband" or not isinstance(
                strategy_config, StrategyConfig)):
            raise DefinitionError("strategy_config=StrategyConfig(...) goes with "
                                  f"strategy='Hyperband', not {strategy!r}")
        if completion_criteria_config is not None and not isinstance(
                completion_criteria_config, TuningJobCompletionCriteriaConfig):
            raise DefinitionError("completion_criteria_config must be a "
                                  "TuningJobCompletionCriteriaConfig")
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self.hyperparameter_ranges = dict(hyperparameter_ranges)
        self._ranges = ranges_definition(self.hyperparameter_ranges)
        self.metric_definitions = list(metric_definitions or estimator.metric_definitions)
        if objective_metric_name not in {m["Name"] for m in self.metric_definitions}:
            raise DefinitionError(
                f"objective metric {objective_metric_name!r} has no metric definition; add "
                f"{{'Name': {objective_metric_name!r}, 'Regex': ...}} to metric_definitions")
        if strategy == "Grid":
            size = grid_size(self._ranges)  # raises for continuous ranges
            max_jobs = size if max_jobs is None else max_jobs
        # Pipeline variables are kept as they are and resolved when the run executes.
        self.max_jobs = count(1 if max_jobs is None else max_jobs, "max_jobs")
        self.max_parallel_jobs = count(max_parallel_jobs, "max_parallel_jobs")
        self.max_runtime_in_seconds = None if max_runtime_in_seconds is None else count(
            max_runtime_in_seconds, "max_runtime_in_seconds")
        self.strategy = strategy
        self.objective_type = objective_type
        self.early_stopping_type = early_stopping_type
        self.warm_start_config = warm_start_config
        self.random_seed = random_seed
        self.strategy_config = strategy_config
        self.completion_criteria_config = completion_criteria_config
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
        if self.max_runtime_in_seconds is not None:
            cfg["ResourceLimits"]["MaxRuntimeInSeconds"] = self.max_runtime_in_seconds
        if self.random_seed is not None:
            cfg["RandomSeed"] = int(self.random_seed)
        if self.strategy_config is not None:
            cfg["StrategyConfig"] = self.strategy_config.to_definition()
        criteria = (self.completion_criteria_config.to_definition()
                    if self.completion_criteria_config else {})
        if criteria:
            cfg["TuningJobCompletionCriteria"] = criteria
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
        """In a pipeline session: step arguments for ``TuningStep``. Otherwise tune now, with
        a live progress bar, as a new tuning job (an existing ``job_name`` is an error:
        ``attach`` reads its results, ``stackyard tuning resume`` finishes it)."""
        _FIT.check("fit", kwargs)
        req = self.request(inputs)
        if in_pipeline(self.estimator.sagemaker_session):
            return JobArgs("Tuning", req)
        name = job_name or f"{self.base_tuning_job_name or 'tuning'}-" + time.strftime(
            "%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
        if not start_tuning_job(name, req):
            status = (open_store().get_tuning_job(name) or {}).get("status")
            resume = (f", `stackyard tuning resume {name}` to finish it"
                      if status == "InProgress" else "")
            raise UsageError(f"tuning job {name!r} exists already ({status}); use "
                             f"HyperparameterTuner.attach({name!r}) to read its results"
                             f"{resume}, or fit with another job_name")
        self.latest_tuning_job = name
        from stackyard.tuning._progress import run_with_progress

        run_with_progress(name)
        return self

    def _name(self) -> str:
        if self.latest_tuning_job is None:
            raise UsageError("this tuner has not run yet: call fit() or attach()")
        return self.latest_tuning_job

    def describe(self) -> dict[str, Any]:
        from stackyard.tuning._read import summary

        return summary(self._name())

    def best_training_job(self) -> str:
        best = self.describe().get("BestTrainingJob")
        if best is None:
            raise UsageError(f"tuning job {self._name()} has no completed training job")
        return best["TrainingJobName"]

    def best_estimator(self) -> Estimator:
        """An estimator with the best trial's hyperparameters and ``model_data`` set."""
        from stackyard.tuning._read import trials_table

        best_name = self.best_training_job()
        row = next(r for r in trials_table(self._name()) if r["training_job_name"] == best_name)
        job = open_store().get_tuning_job(self._name())
        assert job is not None
        est = _estimator(job["request"], row["hyperparameters"])
        est.model_data = row["model_uri"]
        return est

    def analytics(self) -> TuningAnalytics:
        return TuningAnalytics(self._name())

    @classmethod
    def attach(cls, tuning_job_name: str, sagemaker_session: Any = None,
               job_details: Any = None, estimator_cls: Any = None) -> HyperparameterTuner:
        """A complete tuner rebuilt from a recorded tuning job: its results are there at
        once, and ``fit()`` starts a new tuning job with the same settings."""
        job = open_store().get_tuning_job(tuning_job_name)
        if job is None:
            raise NotFoundError(f"no tuning job {tuning_job_name!r}; see `stackyard tuning list`")
        cfg = job["config"]["HyperParameterTuningJobConfig"]
        req = job["request"]
        limits = cfg["ResourceLimits"]
        objective = cfg["HyperParameterTuningJobObjective"]
        warm = job["config"].get("WarmStartConfig")
        tuner = cls(
            _estimator(req, {}, sagemaker_session), objective["MetricName"],
            ranges_from_definition(cfg["ParameterRanges"]),
            metric_definitions=req["AlgorithmSpecification"]["MetricDefinitions"],
            strategy=cfg["Strategy"], objective_type=objective["Type"],
            max_jobs=limits["MaxNumberOfTrainingJobs"],
            max_parallel_jobs=limits["MaxParallelTrainingJobs"],
            max_runtime_in_seconds=limits.get("MaxRuntimeInSeconds"),
            early_stopping_type=cfg.get("TrainingJobEarlyStoppingType", "Off"),
            warm_start_config=WarmStartConfig.from_definition(warm) if warm else None,
            random_seed=cfg.get("RandomSeed"),
            strategy_config=StrategyConfig.from_definition(cfg["StrategyConfig"])
            if cfg.get("StrategyConfig") else None,
            completion_criteria_config=TuningJobCompletionCriteriaConfig.from_definition(
                cfg["TuningJobCompletionCriteria"])
            if cfg.get("TuningJobCompletionCriteria") else None)
        tuner.latest_tuning_job = tuning_job_name
        return tuner


class TuningAnalytics:
    def __init__(self, name: str) -> None:
        self.name = name

    def dataframe(self) -> Any:
        """One row per training job, as SageMaker's tuner analytics gives."""
        import pandas as pd

        from stackyard.tuning._read import trials_table

        rows = []
        for r in trials_table(self.name):
            rows.append({**r["hyperparameters"], "TrainingJobName": r["training_job_name"],
                         "TrainingJobStatus": r["status"], "FinalObjectiveValue": r["objective"],
                         "TrainingStartTime": r["start_time"], "TrainingEndTime": r["end_time"],
                         "TrainingElapsedTimeSeconds": (r["end_time"] - r["start_time"])
                         if r["end_time"] else None})
        return pd.DataFrame(rows)


def _estimator(request: dict[str, Any], tuned: dict[str, Any],
               sagemaker_session: Any = None) -> Estimator:
    """The estimator a recorded training definition came from, with ``tuned``
    hyperparameters on top of its static ones."""
    code = request["Code"]
    algo = request["AlgorithmSpecification"]
    resources = request.get("ResourceConfig") or {}
    return Estimator(
        entry_point=code["EntryPoint"] if code.get("SourceDir") else code["EntryPointPath"],
        source_dir=code.get("SourceDir"), image_uri=algo.get("TrainingImage"),
        instance_count=resources.get("InstanceCount", 1),
        instance_type=resources.get("InstanceType"),
        hyperparameters={**request.get("HyperParameters", {}), **tuned},
        metric_definitions=algo.get("MetricDefinitions"),
        max_run=(request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds",
                                                             24 * 60 * 60),
        output_path=(request.get("OutputDataConfig") or {}).get("S3OutputPath"),
        environment=request.get("Environment"), dependencies=code.get("Dependencies"),
        sagemaker_session=sagemaker_session)


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
