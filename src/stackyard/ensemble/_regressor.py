"""EnsembleRegressor: heterogeneous regression ensembles as one scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import column_or_1d

from ._base import BaseEnsemble
from ._outputs import Task


class EnsembleRegressor(RegressorMixin, BaseEnsemble):
    """Average, weight or stack heterogeneous regressors trained on the same data.

    Parameters
    ----------
    members : list of estimators or (str, estimator) pairs
        The ensemble's members, e.g. ``[("xgb", XGBRegressor()), ("lin", LinearRegression())]``
        or just ``[XGBRegressor(), LinearRegression()]``: an estimator without a name is
        named as ``make_pipeline`` would (``"xgbregressor"``, ``"linearregression"``; ``-1``,
        ``-2`` ... when several share a class, across all layers). Any
        scikit-learn-compatible regressor works; XGBoost, LightGBM and CatBoost members are
        also thread-capped and saved in their native formats, and CatBoost members write no
        ``catboost_info/`` unless ``train_dir`` or ``allow_writing_files`` is set.
    layers : list of lists of estimators or (str, estimator) pairs, optional
        Multi-layer stacking instead of ``members``: layer 0 sees ``X``; every later layer
        is trained on the previous layer's out-of-fold predictions (plus ``X`` when
        ``passthrough``); the last layer is combined by ``combine`` (default ``"stack"``).
        ``members=m`` is the same as ``layers=[m]``. Member names are unique across layers.
    combine : {"mean", "median", "weighted", "stack"}, optional
        How the last layer's predictions are combined. Default: ``"mean"`` with
        ``members``, ``"stack"`` with ``layers``. ``"weighted"`` learns non-negative
        weights summing to one on out-of-fold predictions (``weight_method``), unless
        fixed ``weights`` are given; ``"stack"`` fits ``final_estimator`` on them.
    weights : array-like of float, optional
        Fixed weights for ``combine="weighted"`` (one per last-layer member).
    weight_method : {"greedy", "nnls"}, default="greedy"
        Greedy ensemble selection (Caruana et al. 2004) or scipy's NNLS.
    final_estimator : estimator, optional
        Meta-learner for ``combine="stack"``; default ``RidgeCV()``.
    passthrough : bool, default=False
        Also feed the raw features to later layers and to the meta-learner.
    cv : int, splitter, iterable of (train, test) or None, default=None
        Folds for out-of-fold predictions and ``cv_results_``. ``None`` runs 5-fold CV only
        when the rule needs out-of-fold predictions (``stack``, ``weighted`` without fixed
        ``weights``, more than one layer) and no CV otherwise: a ``mean``, ``median``, vote
        or fixed-weight ensemble of k members costs k fits, not k * (folds + 1), and its
        ``cv_results_`` is None. Pass ``cv`` explicitly to get ``cv_results_`` for any
        rule. An int means ``KFold`` (``StratifiedKFold`` for classifiers) in row order,
        shuffled only when ``random_state`` is given, as in scikit-learn's stacking.
    cv_repeats : int, default=1
        With an int ``cv``: repeat k-fold this many times, reshuffled (RepeatedKFold);
        needs ``random_state``.
    n_jobs : int, optional
        Members (and folds) trained concurrently on threads; each member's own thread
        count is capped so the machine is never oversubscribed. None means 1.
    random_state : int, RandomState or None
        Shuffles the CV folds, seeded by it. None (the default) keeps folds in row order,
        so two fits on the same data give identical predictions; the ensemble adds no
        randomness of its own (members keep their own ``random_state``).

    Attributes
    ----------
    layers_ : list of lists of (str, fitted estimator)
    named_estimators_ : Bunch of every fitted member by name
    combine_ : str, the resolved combination rule
    weights_ : ndarray or None, the (fitted or given) weights of the last layer
    final_estimator_ : fitted meta-learner or None
    cv_results_ : dict or None, per-member and ensemble CV scores (RMSE)
    n_features_in_, feature_names_in_ : as in scikit-learn
    """

    _classifier = False

    def __init__(
        self,
        members: list[Any] | None = None,
        *,
        layers: list[list[Any]] | None = None,
        combine: str | None = None,
        weights: Any = None,
        weight_method: str = "greedy",
        final_estimator: Any = None,
        passthrough: bool = False,
        cv: Any = None,
        cv_repeats: int = 1,
        n_jobs: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.members = members
        self.layers = layers
        self.combine = combine
        self.weights = weights
        self.weight_method = weight_method
        self.final_estimator = final_estimator
        self.passthrough = passthrough
        self.cv = cv
        self.cv_repeats = cv_repeats
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _prepare_y(self, y: Any) -> tuple[np.ndarray, Task]:
        y = column_or_1d(y, warn=True)
        try:
            y = np.asarray(y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError("EnsembleRegressor needs a numeric target y") from exc
        assert_all_finite(y, input_name="y")
        return y, Task(classifier=False)

    def _task(self) -> Task:
        return Task(classifier=False)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values of shape ``(n_samples,)``."""
        return self._output(X)
