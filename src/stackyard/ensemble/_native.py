"""Saving and loading one estimator in its own library's format.

Why native formats instead of pickling the ensemble: they are stable across library
versions, readable by other tools (xgboost/lightgbm CLIs, CatBoost appliers), and not
arbitrary-code-execution vectors. scikit-learn estimators go through skops, and are only
saved or loaded when every type skops does not trust by itself is on ``SKOPS_TRUSTED``.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._spec import member_kind

SUFFIX = {"xgboost": ".json", "catboost": ".cbm", "lightgbm": ".txt", "sklearn": ".skops"}
_BASES = {"xgboost": "XGBModel", "catboost": "CatBoost", "lightgbm": "LGBMModel"}
# The types skops leaves to the caller that stackyard's saved members hold (fitted trees,
# neighbour indexes, their distance metrics, optimiser state). An explicit list, not a
# prefix: "numpy." or "sklearn." would also trust functions such as numpy.load or any
# helper a crafted file names. A member holding another type cannot be saved (the error
# says which), so every file stackyard wrote loads.
SKOPS_TRUSTED = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    *(f"sklearn.metrics._dist_metrics.{m}Distance64"
      for m in ("Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski")),
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
})
_XGB_OVERWRITTEN = ("objective", "booster", "base_score", "feature_types", "enable_categorical")


def json_value(value: Any) -> Any:
    """``value`` as plain JSON, or ``{"repr": ...}`` when it cannot round-trip."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist() if isinstance(value, np.ndarray) else value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"repr": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [json_value(v) for v in value]
        if not any(isinstance(v, dict) and "repr" in v for v in items):
            return items
    return {"repr": repr(value)}


def json_params(est: Any) -> dict[str, Any]:
    """The estimator's own (shallow) parameters, JSON-safe; for the manifest."""
    return {k: json_value(v) for k, v in est.get_params(deep=False).items()}


def _restorable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if not (isinstance(v, dict) and "repr" in v)}


def _untrusted(types: list[str]) -> list[str]:
    return [t for t in types if t not in SKOPS_TRUSTED]


def dump(est: Any, directory: Path, stem: str, label: str) -> dict[str, Any]:
    """Write ``est`` to ``directory/stem.<ext>``; returns its manifest entry."""
    kind = member_kind(est)
    rel = stem + SUFFIX[kind]
    path = directory / rel
    entry: dict[str, Any] = {"kind": kind, "file": rel,
                             "class": f"{type(est).__module__}.{type(est).__qualname__}"}
    if kind == "xgboost":
        est.save_model(path)
    elif kind == "catboost":
        est.save_model(str(path), format="cbm")
    elif kind == "lightgbm":
        est.booster_.save_model(str(path))
        entry["n_classes"] = int(getattr(est, "n_classes_", 0) or 0)
        entry["named_features"] = bool(getattr(est, "_fitted_with_feature_names", False))
    else:
        import skops.io as sio  # lazily: importing skops costs ~1 s (it pulls in pandas)

        data = sio.dumps(est)
        bad = _untrusted(sio.get_untrusted_types(data=data))
        if bad:
            raise ValueError(
                f"{label} ({type(est).__name__}) contains types that cannot be saved safely: "
                f"{bad}; only the types in stackyard.ensemble._native.SKOPS_TRUSTED (and "
                "what skops trusts itself) are allowed in skops files "
                "(XGBoost/LightGBM/CatBoost must be members themselves, not inside a Pipeline)"
            )
        path.write_bytes(data)
    return entry


def _resolve(kind: str, qualname: str) -> type:
    module_name, _, name = qualname.rpartition(".")
    if module_name.split(".")[0] != kind:
        raise ValueError(f"manifest.json: class {qualname!r} is not from {kind}")
    module = importlib.import_module(module_name)
    cls = getattr(module, name, None)
    base = getattr(importlib.import_module(kind), _BASES[kind])
    if not (isinstance(cls, type) and issubclass(cls, base)):
        # ValueError, like every other "this saved model is not acceptable" refusal.
        raise ValueError(f"manifest.json: {qualname!r} is not a {kind} estimator class")  # noqa: TRY004
    return cls


def _load_lightgbm(cls: type, params: dict[str, Any], path: Path, entry: dict[str, Any]) -> Any:
    """Re-wrap a LightGBM text model in its scikit-learn class.

    LightGBM has no public "sklearn estimator from model file" API, so this restores
    the attributes its ``fit`` sets (checked against lightgbm 4.x by the round-trip test).
    """
    import lightgbm as lgb
    from lightgbm.sklearn import _LGBMLabelEncoder

    est = cls(**params)
    booster = lgb.Booster(model_file=str(path))
    est._Booster = booster
    est._n_features = est._n_features_in = booster.num_feature()
    est._fitted_with_feature_names = entry.get("named_features", False)
    est._best_iteration, est._best_score, est._evals_result = booster.best_iteration, {}, {}
    est._objective = booster.params.get("objective", params.get("objective"))
    n_classes = entry.get("n_classes", 0)
    if n_classes:
        est._le = _LGBMLabelEncoder().fit(np.arange(n_classes))
        est._classes = est._le.classes_
        est._n_classes = n_classes
        est._class_map = {c: c for c in range(n_classes)}
    est.fitted_ = True
    return est


def load(entry: dict[str, Any], directory: Path) -> Any:
    """Rebuild one fitted estimator from its (already hash-checked) file."""
    kind, path = entry["kind"], directory / entry["file"]
    if kind == "sklearn":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        bad = _untrusted(untrusted)
        if bad:
            raise ValueError(f"{path}: refusing to load untrusted types {bad}")
        return sio.load(path, trusted=untrusted)
    if kind not in _BASES:
        raise ValueError(f"manifest.json: unknown member kind {kind!r} for {entry['file']}")
    cls = _resolve(kind, entry["class"])
    params = _restorable(entry.get("params", {}))
    if kind == "xgboost":
        est = cls(**params)
        est.load_model(path)
        # load_model overwrites these hyper-parameters with values learnt during fit
        # (e.g. base_score); restore the user's, or a clone would refit differently.
        for key in _XGB_OVERWRITTEN:
            if key in params:
                setattr(est, key, params[key])
        return est
    if kind == "catboost":  # the .cbm file carries the parameters itself
        return cls().load_model(str(path), format="cbm")
    return _load_lightgbm(cls, params, path, entry)
