"""scikit-learn's own estimator contract (check_estimator), on cheap sklearn-only members."""

from __future__ import annotations

import warnings

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
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence noise on the checks' toy data
        check(estimator)
