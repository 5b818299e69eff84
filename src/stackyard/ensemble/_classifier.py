"""EnsembleClassifier: heterogeneous classification ensembles as one scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import assert_all_finite
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import BaseEnsemble
from ._outputs import Task, normalise


def _has_proba(self: EnsembleClassifier) -> bool:
    if self.combine == "vote" and self.voting == "hard":
        raise AttributeError("predict_proba is not available when voting='hard'")
    return True


class EnsembleClassifier(ClassifierMixin, BaseEnsemble):
    """Average, vote, weight or stack heterogeneous classifiers trained on the same data.

    Labels may be any sortable values (strings included): they are encoded to
    ``0..K-1`` once, every member is trained on the codes (which XGBoost requires), and
    ``classes_`` maps predictions back. CV is stratified automatically for an int ``cv``.

    Parameters are those of :class:`EnsembleRegressor`, except:

    combine : {"mean", "median", "weighted", "vote", "stack"}, optional
        Probabilities are averaged (``mean``), per-class medians renormalised
        (``median``), weighted (``weighted``: weights fitted to minimise log loss),
        voted (``vote``), or fed to the meta-learner (``stack``; binary problems use
        P(class 1) per member, multiclass all K columns).
    voting : {"soft", "hard"}, default="soft"
        For ``combine="vote"``: average probabilities, or count (weighted) predicted
        labels. Hard voting accepts members without ``predict_proba`` and provides no
        ``predict_proba`` itself.
    final_estimator : classifier, optional
        Meta-learner for ``combine="stack"``; default ``LogisticRegression(max_iter=1000)``.

    ``cv_results_`` reports accuracy (primary, ``score_mean``) and log loss (under
    ``metrics``; omitted where there are no probabilities).
    """

    _classifier = True

    def __init__(
        self,
        members: list[Any] | None = None,
        *,
        layers: list[list[Any]] | None = None,
        combine: str | None = None,
        voting: str = "soft",
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
        self.voting = voting
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
        # Before the target-type check, which casts NaN/inf to int and warns on the way.
        assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"EnsembleClassifier needs at least 2 classes in y, got {len(self.classes_)} class"
            )
        return codes.astype(np.int64), self._task()

    def _task(self) -> Task:
        return Task(classifier=True, n_classes=len(self.classes_))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (values from ``classes_``)."""
        scores = self._output(X)  # first: raises NotFittedError before classes_ is read
        return self.classes_[np.argmax(scores, axis=1)]

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return normalise(self._output(X))
