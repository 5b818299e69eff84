"""Automatic model tuning: SageMaker's HyperparameterTuner on Optuna and the job runtime.

The public names load on first use (PEP 562): ``stackyard tuning list`` reads the store
through ``_read`` and has no use for the SDK, the workflow or Optuna.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# public name -> (module, attribute)
_WHERE = {
    **{n: ("_ranges", n) for n in ("CategoricalParameter", "ContinuousParameter",
                                   "IntegerParameter", "ParameterRange")},
    "list_tuning_jobs": ("_read", "list_tuning_jobs"),
    "describe_tuning_job": ("_read", "summary"),
    "list_trials": ("_read", "trials_table"),
    **{n: ("_tuner", n) for n in ("HyperbandStrategyConfig", "HyperparameterTuner",
                                  "StrategyConfig", "TuningAnalytics",
                                  "TuningJobCompletionCriteriaConfig", "WarmStartConfig",
                                  "WarmStartTypes")},
}
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
assert sorted(_WHERE) == __all__


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'stackyard.tuning' has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(f"stackyard.tuning.{module}"), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
