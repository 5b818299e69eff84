"""Bad input fails at fit (never in __init__) with a ValueError that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor

REG = [("lin", LinearRegression()), ("ridge", Ridge())]
CLF = [("lr", LogisticRegression(max_iter=1000)), ("lr2", LogisticRegression(C=0.1, max_iter=1000))]


def _fit_reg(diabetes, **kwargs):
    return EnsembleRegressor(**{"members": REG, "cv": 3, **kwargs}).fit(*diabetes)


def _fit_clf(cancer, **kwargs):
    return EnsembleClassifier(**{"members": CLF, "cv": 3, **kwargs}).fit(*cancer)


def test_init_never_validates():
    EnsembleRegressor(members="nonsense", combine="bogus", cv=-1, weights="x")
    EnsembleClassifier(members=[], voting="maybe")


@pytest.mark.parametrize("members", [None, []])
def test_no_members(diabetes, members):
    with pytest.raises(ValueError, match="has no members"):
        _fit_reg(diabetes, members=members)


def test_empty_layer(diabetes):
    with pytest.raises(ValueError, match=r"has no members: layers\[1\] is empty"):
        _fit_reg(diabetes, members=None, layers=[REG, []])


def test_members_and_layers_together(diabetes):
    with pytest.raises(ValueError, match="either members= or layers="):
        _fit_reg(diabetes, layers=[REG])


def test_mismatched_feature_count_at_predict(diabetes):
    ens = _fit_reg(diabetes)
    with pytest.raises(ValueError, match="expected 10 features, got 3|expecting 10 .* got 3"):
        ens.predict(diabetes[0][:, :3])
    with pytest.raises(ValueError, match=r"\(expected 10, got 3\)"):
        ens.predict(diabetes[0][:, :3])


def test_classifier_member_in_regressor(diabetes):
    with pytest.raises(ValueError, match="member 'lr' is a classifier .*must be regressors"):
        _fit_reg(diabetes, members=[*REG, ("lr", LogisticRegression())])


def test_regressor_member_in_classifier(cancer):
    import xgboost

    with pytest.raises(ValueError, match="member 'xgb' is a regressor .*must be classifiers"):
        _fit_clf(cancer, members=[*CLF, ("xgb", xgboost.XGBRegressor())])


def test_member_that_cannot_predict(diabetes):
    with pytest.raises(ValueError, match="member 'scale' .*has no fit/predict"):
        _fit_reg(diabetes, members=[*REG, ("scale", StandardScaler())])


def test_unknown_combine(diabetes):
    with pytest.raises(ValueError, match="unknown combine='avg'"):
        _fit_reg(diabetes, combine="avg")


def test_vote_on_a_regressor(diabetes):
    with pytest.raises(ValueError, match="combine='vote' is for classifiers"):
        _fit_reg(diabetes, combine="vote")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"voting": "maybe"}, "voting must be one of"),
    ({"combine": "weighted", "weight_method": "lsq"}, "weight_method must be one of"),
    ({"combine": "weighted", "weights": [1.0]}, "got 1 weights for 2"),
    ({"combine": "weighted", "weights": [1.0, -1.0]}, "non-negative"),
    ({"combine": "mean", "weights": [1.0, 1.0]}, "weights= only applies"),
    ({"cv_repeats": 2}, "cv_repeats=2 reshuffles the folds, which needs a seed"),
    ({"cv": None, "cv_repeats": 2}, "cv_repeats only applies when cv is an int"),
    ({"cv": 1}, "at least 2"),
    ({"cv": "kfold"}, "cv must be an int"),
    ({"cv": KFold(3), "cv_repeats": 2}, "cv_repeats only applies when cv is an int"),
    ({"cv_repeats": 0}, "cv_repeats must be an int >= 1"),
    ({"combine": "stack", "final_estimator": Ridge()}, "final_estimator must be a classifier"),
    ({"members": [("lr", LogisticRegression()), ("lr", LogisticRegression())]},
     "duplicate member name 'lr'"),
    ({"members": [("a__b", LogisticRegression())]}, "member name 'a__b' is not allowed"),
    ({"members": [("cv", LogisticRegression())]}, "member name 'cv' is not allowed"),
    ({"members": ["lr"]}, r"estimators or \(name, estimator\) pairs, got 'lr'"),
    ({"members": [("lr",)]}, r"estimators or \(name, estimator\) pairs, got \('lr',\)"),
    ({"members": [LogisticRegression]}, r"is the class LogisticRegression.*LogisticRegression\(\)"),
    ({"members": [LogisticRegression(), ("logisticregression", GaussianNB())]},
     "duplicate member name 'logisticregression' .*named after their class"),
    ({"members": [("svc", LinearSVC())]}, "member 'svc' has no predict_proba"),
])
def test_bad_parameters(cancer, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _fit_clf(cancer, **kwargs)


def test_regressor_final_estimator_must_be_regressor(diabetes):
    with pytest.raises(ValueError, match="final_estimator must be a regressor"):
        _fit_reg(diabetes, combine="stack", final_estimator=LogisticRegression())


def test_bad_targets(diabetes, cancer):
    with pytest.raises(ValueError, match="numeric target"):
        EnsembleRegressor(REG, cv=None).fit(diabetes[0][:4], ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="at least 2 classes"):
        EnsembleClassifier(CLF, cv=None).fit(cancer[0][:5], np.zeros(5))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        EnsembleRegressor(REG, cv=None).fit(diabetes[0][:5], diabetes[1][:4])


def test_predict_before_fit(diabetes):
    with pytest.raises(NotFittedError):
        EnsembleRegressor(REG).predict(diabetes[0])
    with pytest.raises(NotFittedError):
        EnsembleClassifier(CLF).predict(diabetes[0])
