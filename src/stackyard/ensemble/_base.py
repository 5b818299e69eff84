"""The shared estimator machinery behind EnsembleRegressor and EnsembleClassifier."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch, check_consistent_length
from sklearn.utils.validation import check_is_fitted

from ._combine import Combiner, combine, fit_combiner
from ._cv import LayerFit, fit_layer, make_splits, summarize
from ._outputs import Task, features, member_output, score, take
from ._spec import Spec, auto_named, check_spec, named_members, raw_layers
from ._threads import plan, run

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _validate_data = None

# Below this many rows, predicting members one after another beats starting threads.
PARALLEL_PREDICT_ROWS = 2048


class BaseEnsemble(BaseEstimator):
    """Fit/predict/params logic; subclasses define ``__init__`` and the target handling."""

    _classifier: ClassVar[bool] = False

    def __sklearn_tags__(self) -> Any:
        # X is handed to the members unchanged, so sparse/NaN support is theirs: the
        # ensemble accepts what every member accepts.
        from sklearn.utils import get_tags  # scikit-learn >= 1.6, as is this method's caller

        tags = super().__sklearn_tags__()
        members = [est for _, est in named_members(self.members, self.layers)]
        try:
            member_tags = [get_tags(est).input_tags for est in members]
        except Exception:  # noqa: BLE001 - a malformed member must not break tag lookup
            return tags
        if member_tags:
            tags.input_tags.sparse = all(t.sparse for t in member_tags)
            tags.input_tags.allow_nan = all(t.allow_nan for t in member_tags)
        return tags

    # -- parameters ---------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, plus ``<member>`` and ``<member>__<param>`` when deep.

        Exposing members by name (like VotingRegressor) is what lets GridSearchCV tune
        ``xgb__max_depth`` directly.
        """
        out = super().get_params(deep=deep)
        if deep:
            for name, est in named_members(self.members, self.layers):
                out[name] = est
                if hasattr(est, "get_params"):
                    out.update((f"{name}__{k}", v) for k, v in est.get_params(deep=True).items())
        return out

    def set_params(self, **params: Any) -> BaseEnsemble:
        """Set constructor parameters, replace members by name, or set member parameters."""
        own = set(super().get_params(deep=False))
        top = {k: v for k, v in params.items() if k.split("__", 1)[0] in own}
        super().set_params(**top)
        rest = {k: v for k, v in params.items() if k not in top}
        names = dict(named_members(self.members, self.layers))
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, value in rest.items():
            name, _, sub = key.partition("__")
            if name not in names:
                raise ValueError(f"Invalid parameter {key!r} for estimator {type(self).__name__}")
            if sub:
                nested[name][sub] = value
            else:
                self._replace_member(name, value)
        for name, sub_params in nested.items():
            dict(named_members(self.members, self.layers))[name].set_params(**sub_params)
        return self

    def _replace_member(self, name: str, est: Any) -> None:
        # Every member is stored with its (possibly automatic) name from now on, so that
        # replacing one bare estimator cannot rename the others.
        attr = "layers" if self.layers is not None else "members"
        layers = auto_named(raw_layers(self.members, self.layers))
        new = [[(name, est) if _is_named(entry, name) else entry for entry in layer]
               if isinstance(layer, list) else layer for layer in layers]
        setattr(self, attr, new[0] if attr == "members" else new)

    # -- input handling -------------------------------------------------------------
    def _check_X(self, X: Any, reset: bool) -> Any:
        if sparse.issparse(X):
            X = X if X.format in ("csr", "csc") else X.tocsr()  # row-indexable for folds
        elif not hasattr(X, "iloc"):  # DataFrames stay DataFrames (categorical dtypes)
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(
                    f"Expected a 2-D array of features, got shape {X.shape}. Reshape your data "
                    "with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for one row."
                )
        if not reset:
            check_is_fitted(self, "layers_")
            got = X.shape[1]
            if got != self.n_features_in_:
                raise ValueError(
                    f"X has {got} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input (expected {self.n_features_in_}, "
                    f"got {got})"
                )
        if _validate_data is not None:
            _validate_data(self, X, reset=reset, skip_check_array=True)
        else:  # pragma: no cover
            self._check_n_features(X, reset=reset)
            self._check_feature_names(X, reset=reset)
        return X

    def _prepare_y(self, y: Any) -> tuple[np.ndarray, Task]:
        raise NotImplementedError

    def _task(self) -> Task:
        raise NotImplementedError

    # -- fitting --------------------------------------------------------------------
    def fit(self, X: Any, y: Any, groups: Any = None) -> BaseEnsemble:
        """Fit every layer's members (with CV when needed) and the combination rule.

        ``groups`` is passed to the CV splitter (e.g. GroupKFold) and nowhere else.
        """
        spec = check_spec(self, self._classifier)
        X = self._check_X(X, reset=True)
        y, task = self._prepare_y(y)
        check_consistent_length(X, y)
        splits = None
        if spec.cv is not None:
            splits = make_splits(spec.cv, self.cv_repeats, self.random_state, task, X, y, groups)
        X_pass = X if self.passthrough else None
        fits: list[LayerFit] = []
        inputs = X
        for i, layer in enumerate(spec.layers):
            fits.append(fit_layer(layer, inputs, y, task, splits, self.n_jobs))
            if i < len(spec.layers) - 1:
                _require_covered(fits[-1], f"layers[{i + 1}]")
                inputs = features(fits[-1].oof, task, X_pass)
        last = fits[-1]
        if spec.fits_combiner:
            _require_covered(last, f"combine={spec.combine!r}")
        comb = fit_combiner(spec, task, last.oof, y, X_pass, self.final_estimator, self.passthrough)
        self.layers_ = [f.fitted for f in fits]
        self.named_estimators_ = Bunch(**{n: e for layer in self.layers_ for n, e in layer})
        self.combine_ = spec.combine
        self.weights_ = comb.weights
        self.final_estimator_ = comb.final_estimator
        self.cv_results_ = None
        if splits is not None:
            self.cv_results_ = _cv_results(spec, task, fits, splits, y, X_pass, self)
        return self

    # -- predicting -----------------------------------------------------------------
    def _combiner(self) -> Combiner:
        voting = getattr(self, "voting", "soft")
        return Combiner(self.combine_, voting, self.weights_, self.final_estimator_,
                        self.passthrough)

    def _output(self, X: Any) -> np.ndarray:
        X = self._check_X(X, reset=False)
        task = self._task()
        inputs, outs = X, []
        for i, layer in enumerate(self.layers_):
            if X.shape[0] >= PARALLEL_PREDICT_ROWS:
                workers, threads = plan(self.n_jobs, len(layer))
            else:
                workers, threads = 1, None
            tasks = [partial(member_output, est, inputs, task, threads) for _, est in layer]
            outs = run(tasks, workers, threads)
            if i < len(self.layers_) - 1:
                inputs = features(outs, task, X if self.passthrough else None)
        return combine(self._combiner(), task, outs, X)

    # -- persistence ----------------------------------------------------------------
    def save(self, path: str | PathLike[str]) -> Path:
        """Write the fitted ensemble to directory ``path`` (see :mod:`._io`); returns it."""
        from ._io import save

        return save(self, path)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> BaseEnsemble:
        """Load an ensemble saved by :meth:`save`, verifying every file's sha256."""
        from ._io import load

        return load(path, expected=cls)


def _is_named(entry: Any, name: str) -> bool:
    return isinstance(entry, tuple) and len(entry) == 2 and entry[0] == name


def _require_covered(fit: LayerFit, what: str) -> None:
    missing = int((~fit.covered).sum())
    if missing:
        raise ValueError(
            f"the cv splitter never put {missing} row(s) in a test fold, but {what} needs an "
            "out-of-fold prediction for every row; use a splitter that partitions the data"
        )


def _cv_results(spec: Spec, task: Task, fits: list[LayerFit], splits: list[Any], y: np.ndarray,
                X_pass: Any, est: BaseEnsemble) -> dict[str, Any]:
    """Per-member and ensemble CV scores.

    The ensemble score of fold *f* combines the members' fold-*f* predictions. When the
    rule is learnt (weights or meta-learner) it is refit on the other rows' out-of-fold
    predictions first, so the held-out rows never inform the rule that scores them.
    (The members that produced those other rows' predictions did see fold *f*, so this
    is slightly optimistic, but it costs only cheap combiner fits instead of nested CV.)
    """
    last = fits[-1]
    hard = spec.combine == "vote" and spec.voting == "hard"
    comb = None if spec.fits_combiner else fit_combiner(spec, task, None, None, None, None, False)
    ens_scores = []
    for f, (_, test) in enumerate(splits):
        if spec.fits_combiner:
            rows = last.covered.copy()
            rows[test] = False
            comb = fit_combiner(spec, task, [o[rows] for o in last.oof], y[rows],
                                take(X_pass, np.flatnonzero(rows)) if X_pass is not None else None,
                                est.final_estimator, est.passthrough)
        outs = [member_outs[f] for member_outs in last.fold_outputs]
        X_test = take(X_pass, test) if X_pass is not None else None
        ens_scores.append(score(y[test], combine(comb, task, outs, X_test), task, not hard))
    members = {}
    for i, fit in enumerate(fits):
        for (name, _), fold_scores in zip(fit.fitted, fit.fold_scores, strict=True):
            members[name] = {"layer": i, **summarize(fold_scores, task)}
    return {
        "metric": task.metrics[0],
        "metrics": list(task.metrics),
        "greater_is_better": task.classifier,
        "n_splits": len(splits),
        "member": members,
        "ensemble": {"combine": spec.combine, **summarize(ens_scores, task)},
    }
