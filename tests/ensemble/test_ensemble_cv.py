"""Built-in cross-validation: splitters, repeats, stratification, cv_results_ shape."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold, KFold, TimeSeriesSplit
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor
from stackyard.ensemble._cv import make_splits
from stackyard.ensemble._outputs import Task

MEMBERS = [("lin", LinearRegression()), ("ridge", Ridge(alpha=10.0))]


def _classifiers():
    return [("lr", make_pipeline(StandardScaler(), LogisticRegression())), ("nb", GaussianNB())]


def test_cv_results_structure(diabetes):
    ens = EnsembleRegressor(MEMBERS, combine="weighted", cv=4, random_state=0).fit(*diabetes)
    res = ens.cv_results_
    assert res["metric"] == "rmse" and res["metrics"] == ["rmse"]
    assert res["greater_is_better"] is False and res["n_splits"] == 4
    assert set(res["member"]) == {"lin", "ridge"}
    for entry in [*res["member"].values(), res["ensemble"]]:
        assert len(entry["scores"]) == 4
        assert entry["score_mean"] == pytest.approx(np.mean(entry["scores"]))
        assert entry["score_std"] == pytest.approx(np.std(entry["scores"]))
        assert entry["metrics"]["rmse"]["scores"] == entry["scores"]
    assert res["member"]["lin"]["layer"] == 0
    json.dumps(res)  # plain Python types only


def test_classifier_cv_results_have_accuracy_and_log_loss(cancer):
    ens = EnsembleClassifier(_classifiers(), combine="stack", cv=3, random_state=0).fit(*cancer)
    res = ens.cv_results_
    assert res["metric"] == "accuracy" and res["metrics"] == ["accuracy", "log_loss"]
    for entry in [*res["member"].values(), res["ensemble"]]:
        assert set(entry["metrics"]) == {"accuracy", "log_loss"}
        assert 0.8 < entry["score_mean"] <= 1.0
        assert 0 < entry["metrics"]["log_loss"]["mean"] < 1


def test_repeated_cv(diabetes):
    ens = EnsembleRegressor(MEMBERS, combine="stack", cv=3, cv_repeats=3, random_state=0)
    res = ens.fit(*diabetes).cv_results_
    assert res["n_splits"] == 9
    assert len(res["member"]["lin"]["scores"]) == 9 and len(res["ensemble"]["scores"]) == 9


def test_same_random_state_same_results_and_different_seed_differs(diabetes):
    def fit(seed):
        return EnsembleRegressor(MEMBERS, cv=3, random_state=seed).fit(*diabetes).cv_results_

    assert fit(1) == fit(1)
    assert fit(1)["ensemble"]["scores"] != fit(2)["ensemble"]["scores"]


def test_integer_cv_is_stratified_for_classifiers():
    y = np.array([0] * 90 + [1] * 10)
    X = np.zeros((100, 1))
    for _, test in make_splits(5, 1, 0, Task(True, 2), X, y):
        assert np.sum(y[test] == 1) == 2
    for _, test in make_splits(5, 2, 0, Task(True, 2), X, y):
        assert np.sum(y[test] == 1) == 2
    regression_folds = make_splits(5, 1, 0, Task(False), X, y)
    assert any(np.sum(y[test] == 1) != 2 for _, test in regression_folds)


def test_splitter_objects_and_groups(diabetes):
    X, y = diabetes
    groups = np.arange(len(y)) % 7
    ens = EnsembleRegressor(MEMBERS, combine="stack", cv=GroupKFold(n_splits=7))
    ens.fit(X, y, groups=groups)
    assert ens.cv_results_["n_splits"] == 7
    kfold = EnsembleRegressor(MEMBERS, combine="weighted", cv=KFold(3)).fit(X, y)
    assert kfold.cv_results_["n_splits"] == 3
    explicit = list(KFold(3).split(X))
    same = EnsembleRegressor(MEMBERS, combine="weighted", cv=explicit).fit(X, y)
    assert same.cv_results_ == kfold.cv_results_


def test_non_partitioning_splitter(diabetes):
    X, y = diabetes
    mean = EnsembleRegressor(MEMBERS, cv=TimeSeriesSplit(3)).fit(X, y)
    assert mean.cv_results_["n_splits"] == 3
    with pytest.raises(ValueError, match="never put .* row"):
        EnsembleRegressor(MEMBERS, combine="stack", cv=TimeSeriesSplit(3)).fit(X, y)


def test_cv_none_skips_cross_validation(diabetes):
    ens = EnsembleRegressor(MEMBERS, combine="median", cv=None).fit(*diabetes)
    assert ens.cv_results_ is None
    assert ens.predict(diabetes[0][:3]).shape == (3,)
