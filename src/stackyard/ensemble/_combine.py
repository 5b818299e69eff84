"""Turning the final layer's member outputs into one prediction.

``weighted`` fits non-negative weights that sum to one on out-of-fold predictions.
The default ``weight_method="greedy"`` is Caruana et al.'s ensemble selection (ICML
2004): starting from the best single member, repeatedly add (with replacement) the
member that most lowers the loss of the running average, and keep the best prefix.
It is the default because it optimises the loss we report (MSE / log loss) directly,
copes with highly collinear members (GBDTs trained on the same data) by simply not
picking redundant ones, works unchanged on class probabilities, and yields sparse,
readable weights. ``"nnls"`` (scipy.optimize.nnls on the stacked predictions,
renormalised to sum to one so the ensemble stays an average) is the alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from sklearn.linear_model import LogisticRegression, RidgeCV

from ._outputs import Task, features, loss, member_output, normalise, onehot
from ._spec import Spec
from ._threads import fit_clone

GREEDY_ITERATIONS = 50


@dataclass
class Combiner:
    """A fitted combination rule (the fitted part is ``weights`` or ``final_estimator``)."""

    combine: str
    voting: str
    weights: np.ndarray | None = None
    final_estimator: Any = None
    passthrough: bool = False


def default_final_estimator(task: Task) -> Any:
    """RidgeCV / LogisticRegression: regularised, linear, fast; the scikit-learn defaults."""
    return LogisticRegression(max_iter=1000) if task.classifier else RidgeCV()


def greedy_weights(outputs: list[np.ndarray], y: np.ndarray, task: Task,
                   n_iter: int = GREEDY_ITERATIONS) -> np.ndarray:
    """Caruana ensemble selection with replacement; returns weights summing to one."""
    total = np.zeros_like(outputs[0])
    counts = np.zeros(len(outputs))
    best_loss, best_counts = np.inf, counts
    for it in range(1, n_iter + 1):
        losses = [loss(y, (total + out) / it, task) for out in outputs]
        j = int(np.argmin(losses))
        total += outputs[j]
        counts[j] += 1
        if losses[j] < best_loss - 1e-12:
            best_loss, best_counts = losses[j], counts.copy()
    return best_counts / best_counts.sum()


def nnls_weights(outputs: list[np.ndarray], y: np.ndarray, task: Task) -> np.ndarray:
    """Non-negative least squares on the stacked predictions (one-hot targets for classes)."""
    if task.classifier:
        A = np.column_stack([o.reshape(-1) for o in outputs])
        b = onehot(y, task.n_classes).reshape(-1)
    else:
        A, b = np.column_stack(outputs), y
    w, _ = nnls(A, b)
    return w / w.sum() if w.sum() > 0 else np.full(len(outputs), 1.0 / len(outputs))


def fit_combiner(spec: Spec, task: Task, outputs: list[np.ndarray] | None, y: np.ndarray | None,
                 X: Any, final_estimator: Any, passthrough: bool) -> Combiner:
    """Fit the rule on final-layer out-of-fold ``outputs`` (None when nothing is fitted)."""
    comb = Combiner(spec.combine, spec.voting, passthrough=passthrough)
    if spec.combine == "vote":
        comb.weights = spec.weights
    elif spec.combine == "weighted":
        if spec.weights is not None:
            comb.weights = spec.weights
        elif spec.weight_method == "nnls":
            comb.weights = nnls_weights(outputs, y, task)
        else:
            comb.weights = greedy_weights(outputs, y, task)
    elif spec.combine == "stack":
        template = final_estimator if final_estimator is not None else default_final_estimator(task)
        F = features(outputs, task, X if passthrough else None)
        comb.final_estimator = fit_clone(template, None).fit(F, y)
    return comb


def combine(comb: Combiner, task: Task, outputs: list[np.ndarray], X: Any = None) -> np.ndarray:
    """The ensemble's output (values, or class scores) for one batch of member outputs."""
    stacked = np.stack(outputs)
    if comb.combine == "mean":
        return stacked.mean(axis=0)
    if comb.combine == "median":
        med = np.median(stacked, axis=0)
        return normalise(med) if task.classifier else med
    if comb.combine == "stack":
        F = features(outputs, task, X if comb.passthrough else None)
        return member_output(comb.final_estimator, F, task)
    weights = comb.weights
    if weights is None:
        weights = np.full(len(outputs), 1.0 / len(outputs))
    if comb.combine == "vote" and comb.voting == "hard":
        stacked = np.stack([onehot(np.argmax(o, axis=1), task.n_classes) for o in outputs])
    return np.tensordot(weights, stacked, axes=1)
