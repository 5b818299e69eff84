"""Validation of the constructor parameters, done at ``fit`` time.

scikit-learn's convention is that ``__init__`` only stores its arguments (so that
``clone`` and ``set_params`` stay trivial); every check therefore lives here and runs
when ``fit`` is called. Errors are ``ValueError`` with a message that names the
offending member or parameter, because that is what users grep their logs for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_regressor

COMBINES = ("mean", "median", "weighted", "vote", "stack")
# Folds used when cv=None and the rule needs out-of-fold predictions (scikit-learn's default).
DEFAULT_FOLDS = 5
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
    cv: Any = None  # the folds to run: the user's cv, DEFAULT_FOLDS, or None for no CV

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


def _is_bare(entry: Any) -> bool:
    """An estimator given without a name, rather than a ``(name, estimator)`` pair."""
    return not isinstance(entry, (tuple, list, str)) and hasattr(entry, "fit")


def auto_named(layers: list[Any]) -> list[Any]:
    """``layers`` with every bare estimator replaced by a ``(name, estimator)`` pair.

    Names follow ``make_pipeline``: the lowercase class name, with ``-1``, ``-2`` ...
    suffixes when several bare estimators (in any layer) share a class name. Other
    entries, malformed ones included, are left as they are for ``fit`` to judge.
    """
    bare = [type(e).__name__.lower() for layer in layers if _is_sequence(layer)
            for e in layer if _is_bare(e)]
    repeated = {name for name, count in Counter(bare).items() if count > 1}
    seen: Counter[str] = Counter()
    out = []
    for layer in layers:
        if not _is_sequence(layer):
            out.append(layer)
            continue
        entries = []
        for entry in layer:
            if not _is_bare(entry):
                entries.append(entry)
                continue
            name = type(entry).__name__.lower()
            if name in repeated:
                seen[name] += 1
                name = f"{name}-{seen[name]}"
            entries.append((name, entry))
        out.append(entries)
    return out


def _is_sequence(layer: Any) -> bool:
    return isinstance(layer, Sequence) and not isinstance(layer, str)


def named_members(members: Any, layers: Any) -> list[tuple[str, Any]]:
    """Every well-formed member as ``(name, estimator)``; used by get/set_params.

    Tolerates malformed values (they are reported by ``fit``), because scikit-learn
    expects get_params/set_params to work whatever was stored.
    """
    out = []
    for layer in auto_named(raw_layers(members, layers)):
        for entry in layer if _is_sequence(layer) else ():
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
    if isinstance(est, type):
        raise ValueError(  # noqa: TRY004 - a bad parameter value, as in scikit-learn
            f"{owner}: member {name!r} is the class {est.__name__}, not an estimator; "
            f"pass an instance such as {est.__name__}()"
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
    for i, layer in enumerate(auto_named(raw_layers(members, layers))):
        if not _is_sequence(layer):
            # ValueError (not TypeError): scikit-learn reports bad parameter values so.
            raise ValueError(
                f"{owner}: members must be a list of estimators or (name, estimator) pairs, "
                f"got {layer!r}"
            )
        if len(layer) == 0:
            what = "members" if layers is None else f"layers[{i}]"
            raise ValueError(
                f"{owner} has no members: {what} is empty; pass "
                "members=[estimator or (name, estimator), ...] with at least one estimator"
            )
        entries: Layer = []
        for entry in layer:
            if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
                raise ValueError(
                    f"{owner}: members must be estimators or (name, estimator) pairs, "
                    f"got {entry!r}"
                )
            name, est = entry
            _check_member(owner, name, est, classifier, reserved)
            if name in seen:
                raise ValueError(
                    f"{owner}: duplicate member name {name!r} (estimators without a name "
                    "are named after their class); give each member a unique name"
                )
            seen.add(name)
            entries.append((name, est))
        resolved.append(entries)
    if not resolved:
        raise ValueError(
            f"{owner} has no members: pass members=[estimator or (name, estimator), ...] "
            "or layers=[[...], ...]"
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
    spec = replace(spec, cv=_check_cv_params(owner, est, spec))
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


def _check_cv_params(owner: str, est: Any, spec: Spec) -> Any:
    """The folds ``fit`` runs: ``est.cv``, or for ``cv=None`` DEFAULT_FOLDS when the rule
    needs out-of-fold predictions and no CV at all when it does not."""
    cv, repeats = est.cv, est.cv_repeats
    if not isinstance(repeats, Integral) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"{owner}: cv_repeats must be an int >= 1, got {repeats!r}")
    if isinstance(cv, (bool, str)) or (isinstance(cv, Real) and not isinstance(cv, Integral)):
        raise ValueError(  # noqa: TRY004 - a bad parameter value, as in scikit-learn
            f"{owner}: cv must be an int, a splitter, an iterable or None, got {cv!r}"
        )
    if not isinstance(cv, Integral):
        if repeats != 1:
            raise ValueError(
                f"{owner}: cv_repeats only applies when cv is an int (number of folds); "
                f"got cv={cv!r}"
            )
        return cv if cv is not None or not spec.needs_oof else DEFAULT_FOLDS
    if cv < 2:
        raise ValueError(f"{owner}: cv={cv} folds; need at least 2")
    if repeats > 1 and est.random_state is None:
        # Repeating unshuffled folds gives the same folds again; shuffling them needs a
        # seed, or two fits on the same data would disagree.
        raise ValueError(
            f"{owner}: cv_repeats={repeats} reshuffles the folds, which needs a seed; "
            "set random_state to an int"
        )
    return cv
