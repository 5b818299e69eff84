"""Automatic model tuning: SageMaker's HyperparameterTuner on Optuna and the job runtime."""

from stackyard.tuning._ranges import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    ParameterRange,
)
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
]
