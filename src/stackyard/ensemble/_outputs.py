"""One representation for what a member "says" about a batch of rows, and its scores.

Regressors give a float vector ``(n,)``. Classifiers give a class-score matrix
``(n, K)`` over the ensemble's encoded classes ``0..K-1``: ``predict_proba`` columns
re-aligned through the member's own ``classes_`` (a CV fold may miss a class), or a
one-hot of ``predict`` for members without probabilities (hard voting only). Having one
shape for everything lets mean/median/weighted/vote/stack share code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import _safe_indexing

_EPS = 1e-15


@dataclass(frozen=True)
class Task:
    """What is being predicted: regression, or classification with ``n_classes``."""

    classifier: bool
    n_classes: int = 0

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names, primary first (the primary one is ``score_mean`` in cv_results_)."""
        return ("accuracy", "log_loss") if self.classifier else ("rmse",)


def take(X: Any, rows: np.ndarray | None) -> Any:
    """Rows of an array, sparse matrix or DataFrame (DataFrames stay DataFrames)."""
    return X if rows is None else _safe_indexing(X, rows)


def onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels.astype(int)] = 1.0
    return out


def _aligned(scores: np.ndarray, member_classes: Any, n_classes: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:  # some wrappers return P(class 1) only
        scores = np.column_stack([1.0 - scores, scores])
    if member_classes is None or scores.shape[1] == n_classes:
        return scores
    out = np.zeros((scores.shape[0], n_classes))
    out[:, np.asarray(member_classes, dtype=int)] = scores
    return out


def member_output(est: Any, X: Any, task: Task, threads: int | None = None) -> np.ndarray:
    """Predictions of one fitted member on ``X`` in the shared representation."""
    # CatBoost predicts with all cores unless told otherwise, whatever it was trained with.
    catboost = type(est).__module__.startswith("catboost")
    kw = {"thread_count": threads} if threads and catboost else {}
    if not task.classifier:
        return np.asarray(est.predict(X, **kw), dtype=float).reshape(-1)
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X, **kw)
        return _aligned(proba, getattr(est, "classes_", None), task.n_classes)
    return onehot(np.asarray(est.predict(X, **kw)).reshape(-1), task.n_classes)


def features(outputs: list[np.ndarray], task: Task, X: Any = None) -> np.ndarray:
    """Design matrix for the next layer or the meta-learner.

    For binary classification only P(class 1) per member is kept: the other column is
    its complement, and collinear inputs only destabilise the meta-learner.
    """
    if not task.classifier:
        cols = [o.reshape(-1, 1) for o in outputs]
    elif task.n_classes == 2:
        cols = [o[:, 1:] for o in outputs]
    else:
        cols = list(outputs)
    if X is not None:
        if hasattr(X, "toarray"):
            X = X.toarray()
        try:
            cols.append(np.asarray(X, dtype=float))
        except (TypeError, ValueError) as exc:
            raise ValueError("passthrough=True needs numeric features") from exc
    return np.hstack(cols)


def normalise(scores: np.ndarray) -> np.ndarray:
    """Rows that sum to one (probabilities), guarding against all-zero rows."""
    scores = np.clip(scores, 0.0, None)
    total = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.divide(scores, total, out=uniform, where=total > 0)


def loss(y: np.ndarray, output: np.ndarray, task: Task) -> float:
    """What the weight fitter minimises: MSE for regression, log loss for classification."""
    if not task.classifier:
        return float(np.mean((y - output) ** 2))
    proba = normalise(output)[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(proba, _EPS, 1.0))))


def score(y: np.ndarray, output: np.ndarray, task: Task, proba: bool = True) -> dict[str, float]:
    """All metrics of ``task`` for one fold; log loss only when ``output`` is probabilities."""
    if not task.classifier:
        return {"rmse": float(np.sqrt(np.mean((y - output) ** 2)))}
    out = {"accuracy": float(np.mean(np.argmax(output, axis=1) == y))}
    if proba:
        out["log_loss"] = loss(y, output, task)
    return out
