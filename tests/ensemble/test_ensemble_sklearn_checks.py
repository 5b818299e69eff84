"""scikit-learn's own estimator contract (check_estimator), on cheap sklearn-only members.

Every warning a check raises fails it: none is expected, so a new one is news (a
deprecation to act on, or the ensemble warning where it should raise). Silence one here
only by its category and message, with a comment that says why it is harmless.
"""

from __future__ import annotations

import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.utils.estimator_checks import parametrize_with_checks

from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor

ESTIMATORS = [
    EnsembleRegressor([("lin", LinearRegression()), ("ridge", Ridge())], combine="stack", cv=3,
                      random_state=0),
    EnsembleRegressor(layers=[[("lin", LinearRegression())], [("ridge", Ridge())]],
                      passthrough=True, cv=3, random_state=0),
    EnsembleClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())], combine="weighted",
                       cv=3, random_state=0),
    EnsembleClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())], combine="vote",
                       voting="hard", cv=None),
    # Defaults: bare (auto-named) members, 5 row-order folds for the learnt weights.
    EnsembleRegressor([LinearRegression(), Ridge(), Ridge(alpha=10.0)], combine="weighted"),
]


@parametrize_with_checks(ESTIMATORS)
@pytest.mark.filterwarnings("error")
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
