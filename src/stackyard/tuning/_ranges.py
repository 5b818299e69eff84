"""Hyperparameter ranges, SageMaker-shaped, and their Optuna search distributions.

Checked when built, so an invalid range is an error before any trial runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from stackyard.errors import DefinitionError

if TYPE_CHECKING:
    import optuna.distributions as od

SCALING = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")


class ParameterRange:
    kind = ""

    def to_definition(self, name: str) -> dict[str, Any]:
        raise NotImplementedError


class _Numeric(ParameterRange):
    def __init__(self, min_value: float, max_value: float, scaling_type: str = "Auto") -> None:
        if scaling_type not in SCALING:
            raise DefinitionError(f"scaling_type {scaling_type!r} is not one of {SCALING}")
        if min_value > max_value:
            raise DefinitionError(f"range min {min_value} > max {max_value}")
        if scaling_type == "Logarithmic" and min_value <= 0:
            raise DefinitionError(f"Logarithmic scaling needs min > 0; got {min_value}")
        if scaling_type == "ReverseLogarithmic" and not (min_value >= 0 and max_value < 1):
            raise DefinitionError("ReverseLogarithmic scaling needs 0 <= min <= max < 1; "
                                  f"got [{min_value}, {max_value}]")
        self.min_value = min_value
        self.max_value = max_value
        self.scaling_type = scaling_type

    def to_definition(self, name: str) -> dict[str, Any]:
        return {"Name": name, "MinValue": str(self.min_value), "MaxValue": str(self.max_value),
                "ScalingType": self.scaling_type}


class ContinuousParameter(_Numeric):
    kind = "Continuous"


class IntegerParameter(_Numeric):
    kind = "Integer"

    def __init__(self, min_value: int, max_value: int, scaling_type: str = "Auto") -> None:
        super().__init__(int(min_value), int(max_value), scaling_type)


class CategoricalParameter(ParameterRange):
    kind = "Categorical"

    def __init__(self, values: list[Any]) -> None:
        values = list(values) if isinstance(values, list | tuple) else [values]
        if not values:
            raise DefinitionError("a CategoricalParameter needs at least one value")
        self.values = values

    def to_definition(self, name: str) -> dict[str, Any]:
        return {"Name": name, "Values": [str(v) for v in self.values]}


def ranges_definition(ranges: dict[str, ParameterRange]) -> dict[str, list[dict[str, Any]]]:
    if not ranges:
        raise DefinitionError("hyperparameter_ranges is empty: name at least one range")
    out: dict[str, list[dict[str, Any]]] = {
        "ContinuousParameterRanges": [], "IntegerParameterRanges": [],
        "CategoricalParameterRanges": []}
    for name, r in ranges.items():
        if not isinstance(r, ParameterRange):
            raise DefinitionError(f"range {name!r} must be a Continuous/Integer/Categorical"
                                  f"Parameter; got {type(r).__name__}")
        out[f"{r.kind}ParameterRanges"].append(r.to_definition(name))
    return out


def ranges_from_definition(defn: dict[str, list[dict[str, Any]]]) -> dict[str, ParameterRange]:
    """The ranges a definition was made from (``attach`` rebuilds a tuner with them)."""
    out: dict[str, ParameterRange] = {}
    for r in defn.get("ContinuousParameterRanges", []):
        out[r["Name"]] = ContinuousParameter(float(r["MinValue"]), float(r["MaxValue"]),
                                             r.get("ScalingType", "Auto"))
    for r in defn.get("IntegerParameterRanges", []):
        out[r["Name"]] = IntegerParameter(int(r["MinValue"]), int(r["MaxValue"]),
                                          r.get("ScalingType", "Auto"))
    for r in defn.get("CategoricalParameterRanges", []):
        out[r["Name"]] = CategoricalParameter(list(r["Values"]))
    return out


def _auto_log(lo: float, hi: float) -> bool:
    """Auto picks log scale for a positive range spanning two or more orders of magnitude."""
    return lo > 0 and hi / lo >= 100


# Internal parameter names for reverse-log ranges: Optuna samples z = 1 - x log-uniformly.
REVERSE = "__reverse__"


def distributions(defn: dict[str, list[dict[str, Any]]]) -> dict[str, od.BaseDistribution]:
    import optuna.distributions as od  # only a tuning run needs Optuna; reads do not

    dists: dict[str, od.BaseDistribution] = {}
    for r in defn.get("ContinuousParameterRanges", []):
        lo, hi, sc = float(r["MinValue"]), float(r["MaxValue"]), r.get("ScalingType", "Auto")
        if sc == "ReverseLogarithmic":
            dists[REVERSE + r["Name"]] = od.FloatDistribution(1 - hi, 1 - lo, log=True)
        else:
            log = sc == "Logarithmic" or (sc == "Auto" and _auto_log(lo, hi))
            dists[r["Name"]] = od.FloatDistribution(lo, hi, log=log)
    for r in defn.get("IntegerParameterRanges", []):
        lo, hi, sc = int(r["MinValue"]), int(r["MaxValue"]), r.get("ScalingType", "Auto")
        log = sc in ("Logarithmic", "ReverseLogarithmic") or (sc == "Auto" and _auto_log(lo, hi))
        dists[r["Name"]] = od.IntDistribution(lo, hi, log=log and lo > 0)
    for r in defn.get("CategoricalParameterRanges", []):
        dists[r["Name"]] = od.CategoricalDistribution(r["Values"])
    return dists


def to_hyperparameters(params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's sampled values -> the hyperparameters a trial gets."""
    out = {}
    for k, v in params.items():
        if k.startswith(REVERSE):
            out[k[len(REVERSE):]] = 1 - v
        else:
            out[k] = v
    return out


def grid(defn: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """The search space of Grid strategy: categorical and integer ranges only."""
    if defn.get("ContinuousParameterRanges"):
        names = [r["Name"] for r in defn["ContinuousParameterRanges"]]
        raise DefinitionError(f"Grid strategy cannot enumerate continuous ranges {names}; "
                              "use IntegerParameter or CategoricalParameter")
    space: dict[str, list[Any]] = {}
    for r in defn.get("IntegerParameterRanges", []):
        space[r["Name"]] = list(range(int(r["MinValue"]), int(r["MaxValue"]) + 1))
    for r in defn.get("CategoricalParameterRanges", []):
        space[r["Name"]] = list(r["Values"])
    return space


def grid_size(defn: dict[str, list[dict[str, Any]]]) -> int:
    return math.prod(len(v) for v in grid(defn).values())
