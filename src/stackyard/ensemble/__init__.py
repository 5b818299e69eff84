"""Heterogeneous model ensembles as scikit-learn estimators.

``EnsembleRegressor`` / ``EnsembleClassifier`` combine XGBoost, CatBoost, LightGBM and
any scikit-learn estimator trained on the same data, by mean, median, fitted weights,
voting or (multi-layer) stacking, with built-in cross-validation scores, thread-capped
parallel training and a pickle-free, hash-verified ``save``/``load``.

This package imports nothing else from stackyard: it runs inside user training scripts.
"""

from __future__ import annotations

from ._classifier import EnsembleClassifier
from ._io import load
from ._regressor import EnsembleRegressor

__all__ = ["EnsembleClassifier", "EnsembleRegressor", "load"]
