"""Validation of the constructor parameters, done at ``fit`` time.

scikit-learn's convention is that ``__init__`` only stores its arguments (so that
``clone`` and ``set_params`` stay trivial); every check therefore lives here and runs
when ``fit`` is called. Errors are ``ValueError`` with a message that names the
offending member or parameter, because that is what users grep their logs for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_regressor

COMBINES = ("mean", "median", "weighted", "vote", "stack")
WEIGHT_METHODS = ("greedy", "nnls")
VOTINGS = ("soft", "hard")

Layer = list[tuple[str, Any]]


@dataclass(frozen=True)
class Spec:
    """The resolved, validated configuration that ``fit`` works from."""

    layers: list[Layer]
    combine: str
    voting: str
    weight_method: str
    weights: np.ndarray | None

    @property
    def fits_combiner(self) -> bool:
        """Whether the combination rule itself is learnt (meta-learner or weights)."""
        return self.combine == "stack" or (self.combine == "weighted" and self.weights is None)

    @property
    def needs_oof(self) -> bool:
        """Whether fitting needs out-of-fold predictions (and therefore CV)."""
        return len(self.layers) > 1 or self.fits_combiner


def member_kind(estimator: Any) -> str:
    """Which native format an estimator is saved in: its top-level package.

    Decided from the class's module so that no optional library needs importing.
    """
    root = type(estimator).__module__.split(".")[0]
    return root if root in ("xgboost", "catboost", "lightgbm") else "sklearn"


def raw_layers(members: Any, layers: Any) -> list[Any]:
    """``members`` and ``layers`` as one list of layers, without validating entries."""
    if layers is not None:
        return list(layers) if isinstance(layers, Sequence) else [layers]
    return [members] if members is not None else []


def named_members(members: Any, layers: Any) -> list[tuple[str, Any]]:
    """Every well-formed ``(name, estimator)`` entry; used by get/set_params.

    Tolerates malformed values (they are reported by ``fit``), because scikit-learn
    expects get_params/set_params to work whatever was stored.
    """
    out = []
    for layer in raw_layers(members, layers):
        for entry in layer if isinstance(layer, Sequence) else ():
            if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
                out.append(entry)
    return out


def _check_member(owner: str, name: Any, est: Any, classifier: bool, reserved: set[str]) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{owner}: member names must be non-empty strings, got {name!r}")
    if "__" in name or name in reserved:
        raise ValueError(
            f"{owner}: member name {name!r} is not allowed (contains '__' or shadows a "
            "constructor parameter, which would break get_params/set_params)"
        )
    if not (hasattr(est, "fit") and hasattr(est, "predict")):
        raise ValueError(f"{owner}: member {name!r} ({type(est).__name__}) has no fit/predict")
    if classifier and is_regressor(est):
        raise ValueError(
            f"{owner}: member {name!r} is a regressor ({type(est).__name__}); "
            "EnsembleClassifier members must be classifiers"
        )
    if not classifier and is_classifier(est):
        raise ValueError(
            f"{owner}: member {name!r} is a classifier ({type(est).__name__}); "
            "EnsembleRegressor members must be regressors"
        )


def _check_layers(owner: str, members: Any, layers: Any, classifier: bool,
                  reserved: set[str]) -> list[Layer]:
    if members is not None and layers is not None:
        raise ValueError(f"{owner}: pass either members= or layers=, not both")
    resolved: list[Layer] = []
    seen: set[str] = set()
    for i, layer in enumerate(raw_layers(members, layers)):
        if not isinstance(layer, Sequence) or isinstance(layer, str):
            # ValueError (not TypeError): scikit-learn reports bad parameter values so.
            raise ValueError(  # noqa: TRY004
                f"{owner}: members must be a list of (name, estimator), got {layer!r}"
            )
        if len(layer) == 0:
            what = "members" if layers is None else f"layers[{i}]"
            raise ValueError(
                f"{owner} has no members: {what} is empty; pass "
                "members=[(name, estimator), ...] with at least one estimator"
            )
        entries: Layer = []
        for entry in layer:
            if not (isinstance(entry, Sequence) and len(entry) == 2):
                raise ValueError(
                    f"{owner}: members must be (name, estimator) tuples, got {entry!r}"
                )
            name, est = entry
            _check_member(owner, name, est, classifier, reserved)
            if name in seen:
                raise ValueError(f"{owner}: duplicate member name {name!r}")
            seen.add(name)
            entries.append((name, est))
        resolved.append(entries)
    if not resolved:
        raise ValueError(
            f"{owner} has no members: pass members=[(name, estimator), ...] "
            "or layers=[[(name, estimator), ...], ...]"
        )
    return resolved


def _check_weights(owner: str, weights: Any, combine: str, n_last: int) -> np.ndarray | None:
    if weights is None:
        return None
    if combine not in ("weighted", "vote"):
        raise ValueError(f"{owner}: weights= only applies to combine='weighted' or 'vote'")
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_last,):
        raise ValueError(f"{owner}: got {w.size} weights for {n_last} (final-layer) members")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"{owner}: weights must be finite, non-negative and not all zero")
    return w / w.sum()


def check_spec(est: Any, classifier: bool) -> Spec:
    """Validate ``est``'s parameters and return the resolved :class:`Spec`."""
    owner = type(est).__name__
    reserved = set(est.get_params(deep=False))
    layers = _check_layers(owner, est.members, est.layers, classifier, reserved)
    combine = est.combine
    if combine is None:
        combine = "stack" if est.layers is not None else "mean"
    if combine not in COMBINES:
        raise ValueError(f"{owner}: unknown combine={combine!r}; expected one of {COMBINES}")
    if combine == "vote" and not classifier:
        raise ValueError(
            f"{owner}: combine='vote' is for classifiers; use 'mean' or 'weighted' to average "
            "regressors"
        )
    voting = getattr(est, "voting", "soft")  # EnsembleRegressor has no voting parameter
    if voting not in VOTINGS:
        raise ValueError(f"{owner}: voting must be one of {VOTINGS}, got {voting!r}")
    if est.weight_method not in WEIGHT_METHODS:
        raise ValueError(
            f"{owner}: weight_method must be one of {WEIGHT_METHODS}, got {est.weight_method!r}"
        )
    spec = Spec(layers, combine, voting, est.weight_method,
                _check_weights(owner, est.weights, combine, len(layers[-1])))
    _check_cv_params(owner, est, spec)
    if classifier and not (combine == "vote" and spec.voting == "hard"):
        for name, member in (m for layer in layers for m in layer):
            if not hasattr(member, "predict_proba"):
                raise ValueError(
                    f"{owner}: member {name!r} has no predict_proba, which combine={combine!r} "
                    "needs; use combine='vote', voting='hard' or a probabilistic estimator"
                )
    final = est.final_estimator
    if final is not None and combine == "stack":
        if classifier and is_regressor(final):
            raise ValueError(f"{owner}: final_estimator must be a classifier, not a regressor")
        if not classifier and is_classifier(final):
            raise ValueError(f"{owner}: final_estimator must be a regressor, not a classifier")
    return spec


def _check_cv_params(owner: str, est: Any, spec: Spec) -> None:
    cv, repeats = est.cv, est.cv_repeats
    if not isinstance(repeats, Integral) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"{owner}: cv_repeats must be an int >= 1, got {repeats!r}")
    if cv is None:
        if spec.needs_oof:
            raise ValueError(
                f"{owner}: combine={spec.combine!r} with {len(spec.layers)} layer(s) needs "
                "out-of-fold predictions; set cv to an int >= 2 or a splitter"
            )
        return
    if isinstance(cv, (bool, str)) or (isinstance(cv, Real) and not isinstance(cv, Integral)):
        raise ValueError(  # noqa: TRY004 - a bad parameter value, as in scikit-learn
            f"{owner}: cv must be an int, a splitter, an iterable or None, got {cv!r}"
        )
    if isinstance(cv, Integral):
        if cv < 2:
            raise ValueError(f"{owner}: cv={cv} folds; need at least 2")
    elif repeats != 1:
        raise ValueError(f"{owner}: cv_repeats only applies when cv is an int (number of folds)")
