"""Does stackyard.ensemble beat its members, and match scikit-learn's stacking/voting?

Datasets bundled with scikit-learn: diabetes (regression, RMSE), breast_cancer and
digits (classification, accuracy and log loss). Every method is scored on the same
outer folds: 5-fold CV repeated 3 times (RepeatedKFold / RepeatedStratifiedKFold,
random_state=0). Methods: each member alone (XGBoost, CatBoost, LightGBM, a linear
model), EnsembleRegressor/EnsembleClassifier with combine mean/weighted/stack, and
scikit-learn's Stacking*/Voting* over the same members (inner CV: shuffled 5-fold,
random_state=0, like ours).

The check line per dataset asks whether weighted and stack are "not worse than the best
member beyond noise": their mean is within one standard error (std / sqrt(15)) of the
best member's mean. The best member is picked after the fact on the very folds it is
scored on, which flatters it; the ensembles get no such help. Exit status 1 if any check
fails. About 5 minutes on 2 idle cores (~10 when other work shares them).

"fit s/fold" is wall-clock seconds per outer fold. Every member is single-threaded and
every ensemble gets n_jobs=2: ours runs members/folds on 2 threads, scikit-learn's on 2
loky processes; single-threaded members also keep timings sane when other processes
share the CPUs (OpenMP spin-waiting). Member rows are scored from the mean ensemble's
fitted members, so they have no time of their own.

    python bench/ensemble_quality.py
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from catboost import CatBoostClassifier, CatBoostRegressor
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import (
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, log_loss, root_mean_squared_error
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier, XGBRegressor

from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor

N_JOBS = 2
OUTER = {"n_splits": 5, "n_repeats": 3, "random_state": 0}
MEMBER_NAMES = ("xgb", "cat", "lgb", "linear")


def regressors() -> list[tuple[str, Any]]:
    return [
        ("xgb", XGBRegressor(n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8,
                             random_state=0, n_jobs=1)),
        ("cat", CatBoostRegressor(iterations=150, depth=4, learning_rate=0.05, random_seed=0,
                                  verbose=0, allow_writing_files=False, thread_count=1)),
        ("lgb", LGBMRegressor(n_estimators=150, learning_rate=0.05, num_leaves=8,
                              min_child_samples=20, subsample=0.8, subsample_freq=1,
                              random_state=0, verbose=-1, n_jobs=1)),
        ("linear", LinearRegression()),
    ]


def classifiers(multiclass: bool) -> Callable[[], list[tuple[str, Any]]]:
    # Multiclass GBDTs grow one tree per class per round: fewer rounds keep digits quick.
    rounds = 40 if multiclass else 150

    def make() -> list[tuple[str, Any]]:
        return [
            ("xgb", XGBClassifier(n_estimators=rounds, max_depth=3, learning_rate=0.1,
                                  subsample=0.8, random_state=0, n_jobs=1)),
            ("cat", CatBoostClassifier(iterations=rounds, depth=4, learning_rate=0.1,
                                       random_seed=0, verbose=0, allow_writing_files=False,
                                       thread_count=1)),
            ("lgb", LGBMClassifier(n_estimators=rounds, learning_rate=0.1, num_leaves=8,
                                   subsample=0.8, subsample_freq=1, random_state=0,
                                   verbose=-1, n_jobs=1)),
            ("linear", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        ]

    return make


def _scores(y: np.ndarray, classifier: bool, model: Any, X: np.ndarray) -> dict[str, float]:
    if not classifier:
        return {"rmse": root_mean_squared_error(y, model.predict(X))}
    proba = model.predict_proba(X)
    labels = model.classes_[np.argmax(proba, axis=1)]
    return {"accuracy": accuracy_score(y, labels),
            "log_loss": log_loss(y, proba, labels=model.classes_)}


def _methods(classifier: bool, members: Callable[[], list]) -> dict[str, Callable[[], Any]]:
    """Factories for every compared method, all with n_jobs=N_JOBS."""
    ours = EnsembleClassifier if classifier else EnsembleRegressor
    inner = (StratifiedKFold if classifier else KFold)(5, shuffle=True, random_state=0)

    def sk_stack() -> Any:
        if classifier:
            final = LogisticRegression(max_iter=1000)
            return StackingClassifier(members(), final_estimator=final, cv=inner,
                                      n_jobs=N_JOBS)
        return StackingRegressor(members(), final_estimator=RidgeCV(), cv=inner, n_jobs=N_JOBS)

    def sk_vote() -> Any:
        if classifier:
            return VotingClassifier(members(), voting="soft", n_jobs=N_JOBS)
        return VotingRegressor(members(), n_jobs=N_JOBS)

    def ensemble(combine: str) -> Callable[[], Any]:
        # Default cv: 5 folds for weighted/stack (shuffled, as random_state is set), none
        # for mean.
        return lambda: ours(members(), combine=combine, random_state=0, n_jobs=N_JOBS)

    return {"mean": ensemble("mean"), "weighted": ensemble("weighted"),
            "stack": ensemble("stack"), "sklearn Stacking": sk_stack, "sklearn Voting": sk_vote}


def evaluate(X: np.ndarray, y: np.ndarray, classifier: bool, members: Callable[[], list]):
    """Fold scores ``{method: {metric: [..]}}`` and mean fit seconds per method."""
    outer = (RepeatedStratifiedKFold if classifier else RepeatedKFold)(**OUTER)
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seconds: dict[str, list[float]] = defaultdict(list)
    for train, test in outer.split(X, y):
        for method, make in _methods(classifier, members).items():
            start = time.perf_counter()
            model = make().fit(X[train], y[train])
            seconds[method].append(time.perf_counter() - start)
            for metric, value in _scores(y[test], classifier, model, X[test]).items():
                scores[method][metric].append(value)
            if method == "mean":  # the mean ensemble's members were fit on exactly this fold
                for name, member in model.named_estimators_.items():
                    for metric, value in _scores(y[test], classifier, member, X[test]).items():
                        scores[name][metric].append(value)
    return scores, {m: float(np.mean(s)) for m, s in seconds.items()}


def _fmt(values: list[float]) -> str:
    return f"{np.mean(values):8.4f} ± {np.std(values):.4f}"


def report(name: str, scores: dict, seconds: dict, classifier: bool) -> bool:
    metrics = ["accuracy", "log_loss"] if classifier else ["rmse"]
    rows = [*MEMBER_NAMES, "mean", "weighted", "stack", "sklearn Stacking", "sklearn Voting"]
    header = f"{'method':<18}" + "".join(f"{m + ' (mean ± std)':>24}" for m in metrics)
    print(f"\n== {name} ({len(scores['xgb'][metrics[0]])} folds) ==")
    print(header + f"{'fit s/fold':>12}")
    print("-" * len(header + " " * 12))
    for row in rows:
        cells = "".join(f"{_fmt(scores[row][m]):>24}" for m in metrics)
        timing = f"{seconds[row]:12.2f}" if row in seconds else f"{'(in mean)':>12}"
        print(f"{row:<18}{cells}{timing}")
    ok = True
    for metric in metrics:
        higher = metric == "accuracy"
        means = {m: float(np.mean(scores[m][metric])) for m in MEMBER_NAMES}
        best = (max if higher else min)(means, key=means.get)
        se = float(np.std(scores[best][metric]) / math.sqrt(len(scores[best][metric])))
        parts = []
        for method in ("weighted", "stack"):
            value = float(np.mean(scores[method][metric]))
            passed = value >= means[best] - se if higher else value <= means[best] + se
            ok &= passed
            parts.append(f"{method} {value:.4f} ({value - means[best]:+.4f}) "
                         f"{'OK' if passed else 'WORSE'}")
        print(f"CHECK {name} {metric}: best member {best} {means[best]:.4f} (se {se:.4f}) | "
              + " | ".join(parts))
    return ok


def main() -> int:
    warnings.filterwarnings("ignore", message=".*No further splits.*")
    started = time.perf_counter()
    datasets = [
        ("diabetes", load_diabetes, False, regressors),
        ("breast_cancer", load_breast_cancer, True, classifiers(multiclass=False)),
        ("digits", load_digits, True, classifiers(multiclass=True)),
    ]
    ok = True
    for name, loader, classifier, members in datasets:
        X, y = loader(return_X_y=True)
        scores, seconds = evaluate(X, y, classifier, members)
        ok &= report(name, scores, seconds, classifier)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; all checks "
          f"{'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
