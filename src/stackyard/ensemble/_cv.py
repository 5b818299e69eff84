"""Built-in cross-validation: out-of-fold predictions and the scores in ``cv_results_``.

One set of splits is drawn per ``fit`` and reused by every layer, so a row's
out-of-fold prediction in layer *i* and its held-out score in layer *i+1* come from
the same partition. Rows predicted in several folds (repeated CV) get the average.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    check_cv,
)

from ._outputs import Task, member_output, score, take
from ._threads import fit_clone, plan, run

Split = tuple[np.ndarray, np.ndarray]


def make_splits(cv: Any, repeats: int, random_state: Any, task: Task, X: Any, y: np.ndarray,
                groups: Any = None) -> list[Split]:
    """Materialise the (train, test) index pairs; stratified for classifiers.

    An integer ``cv`` keeps rows in order unless ``random_state`` is given, as
    scikit-learn's stacking does: unseeded shuffling would make two fits on the same data
    disagree. (Repeated folds always shuffle; ``check_spec`` demands a seed for them.)
    """
    if isinstance(cv, Integral):
        strat = task.classifier
        if repeats > 1:
            kind = RepeatedStratifiedKFold if strat else RepeatedKFold
            splitter = kind(n_splits=cv, n_repeats=repeats, random_state=random_state)
        elif random_state is None:
            splitter = (StratifiedKFold if strat else KFold)(n_splits=cv)
        else:
            splitter = (StratifiedKFold if strat else KFold)(
                n_splits=cv, shuffle=True, random_state=random_state
            )
    else:
        splitter = check_cv(cv, y, classifier=task.classifier)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X, y, groups)]


@dataclass
class LayerFit:
    """A fitted layer: full-data members plus what cross-validation learnt about them."""

    fitted: list[tuple[str, Any]]
    oof: list[np.ndarray] | None = None  # per member, one output row per training row
    fold_outputs: list[list[np.ndarray]] | None = None  # [member][fold] on the fold's test rows
    covered: np.ndarray | None = None  # rows that appeared in at least one test fold
    fold_scores: list[list[dict[str, float]]] | None = None  # [member][fold]


def _fit(est: Any, X: Any, y: np.ndarray) -> Any:
    return est.fit(X, y)


def _fit_fold(est: Any, X: Any, y: np.ndarray, split: Split, task: Task,
              threads: int | None) -> np.ndarray:
    train, test = split
    est.fit(take(X, train), y[train])
    return member_output(est, take(X, test), task, threads)


def fit_layer(layer: list[tuple[str, Any]], X: Any, y: np.ndarray, task: Task,
              splits: list[Split] | None, n_jobs: int | None) -> LayerFit:
    """Fit every member on all rows and, given ``splits``, on every fold, in parallel."""
    folds = splits or []
    n_tasks = len(layer) * (len(folds) + 1)
    workers, threads = plan(n_jobs, n_tasks)
    tasks = [partial(_fit, fit_clone(est, threads), X, y) for _, est in layer]
    for _, est in layer:
        tasks += [partial(_fit_fold, fit_clone(est, threads), X, y, s, task, threads)
                  for s in folds]
    results = run(tasks, workers, threads)
    names = [name for name, _ in layer]
    fit = LayerFit(list(zip(names, results[: len(layer)], strict=True)))
    if not folds:
        return fit
    k, start = len(folds), len(layer)
    per_member = [results[start + j * k: start + (j + 1) * k] for j in range(len(layer))]
    counts = np.zeros(len(y))
    for _, test in folds:
        counts[test] += 1
    fit.covered = counts > 0
    fit.fold_outputs, fit.oof, fit.fold_scores = per_member, [], []
    for (_, est), outs in zip(layer, per_member, strict=True):
        total = np.zeros((len(y), *outs[0].shape[1:]))
        for (_, test), out in zip(folds, outs, strict=True):
            total[test] += out
        with np.errstate(invalid="ignore", divide="ignore"):  # uncovered rows become NaN
            fit.oof.append(total / counts.reshape((-1,) + (1,) * (total.ndim - 1)))
        proba = not task.classifier or hasattr(est, "predict_proba")
        fit.fold_scores.append(
            [score(y[te], out, task, proba) for (_, te), out in zip(folds, outs, strict=True)]
        )
    return fit


def summarize(fold_scores: list[dict[str, float]], task: Task) -> dict[str, Any]:
    """``score_mean/score_std/scores`` for the primary metric, plus every metric."""
    metrics = {}
    for name in task.metrics:
        values = [s[name] for s in fold_scores if name in s]
        if values:
            metrics[name] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                             "scores": [float(v) for v in values]}
    primary = metrics[task.metrics[0]]
    return {"score_mean": primary["mean"], "score_std": primary["std"],
            "scores": primary["scores"], "metrics": metrics}
