"""Automatic model tuning: SageMaker's HyperparameterTuner on Optuna and the job runtime."""

from stackyard.tuning._ranges import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    ParameterRange,
)
from stackyard.tuning._read import list_tuning_jobs
from stackyard.tuning._read import summary as describe_tuning_job
from stackyard.tuning._read import trials_table as list_trials
from stackyard.tuning._tuner import (
    HyperbandStrategyConfig,
    HyperparameterTuner,
    StrategyConfig,
    TuningAnalytics,
    TuningJobCompletionCriteriaConfig,
    WarmStartConfig,
    WarmStartTypes,
)

__all__ = [
    "CategoricalParameter",
    "ContinuousParameter",
    "HyperbandStrategyConfig",
    "HyperparameterTuner",
    "IntegerParameter",
    "ParameterRange",
    "StrategyConfig",
    "TuningAnalytics",
    "TuningJobCompletionCriteriaConfig",
    "WarmStartConfig",
    "WarmStartTypes",
    "describe_tuning_job",
    "list_trials",
    "list_tuning_jobs",
]
