"""Each combine mode gives sensible scores, and stack/vote agree with scikit-learn's own."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import StackingClassifier, StackingRegressor, VotingClassifier
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    RidgeCV,
)
from sklearn.metrics import accuracy_score, log_loss, root_mean_squared_error
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor

REGRESSION_MODES = [
    ("mean", {}),
    ("median", {}),
    ("weighted", {}),
    ("weighted", {"weight_method": "nnls"}),
    ("stack", {}),
    ("stack", {"passthrough": True}),
]
CLASSIFICATION_MODES = [
    ("mean", {}),
    ("median", {}),
    ("weighted", {}),
    ("weighted", {"weight_method": "nnls"}),
    ("vote", {}),
    ("vote", {"voting": "hard"}),
    ("stack", {}),
]


@pytest.fixture(scope="module")
def diabetes_split(diabetes):
    return train_test_split(*diabetes, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def cancer_split(cancer):
    return train_test_split(*cancer, test_size=0.25, random_state=0, stratify=cancer[1])


def _sklearn_regressors():
    return [("lin", LinearRegression()), ("ridge", Ridge(alpha=10.0)),
            ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))]


def _sklearn_classifiers():
    return [("lr", make_pipeline(StandardScaler(), LogisticRegression())),
            ("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]


@pytest.mark.parametrize(("combine", "extra"), REGRESSION_MODES)
def test_regression_modes_score_sensibly(diabetes_split, regressors, combine, extra):
    X_tr, X_te, y_tr, y_te = diabetes_split
    ens = EnsembleRegressor(regressors(), combine=combine, cv=5, random_state=0, **extra)
    ens.fit(X_tr, y_tr)
    cv = ens.cv_results_
    best_cv = min(m["score_mean"] for m in cv["member"].values())
    best_holdout = min(root_mean_squared_error(y_te, m.predict(X_te))
                       for m in ens.named_estimators_.values())
    holdout = root_mean_squared_error(y_te, ens.predict(X_te))
    slack = 1.05 if combine in ("weighted", "stack") else 1.15
    assert cv["metric"] == "rmse" and cv["ensemble"]["combine"] == combine
    assert cv["ensemble"]["score_mean"] <= best_cv * slack
    assert holdout <= best_holdout * slack
    assert holdout < np.std(y_te)


def test_weighted_weights_are_convex_and_favour_the_linear_member(diabetes, regressors):
    ens = EnsembleRegressor(regressors(), combine="weighted", cv=5, random_state=0).fit(*diabetes)
    assert ens.weights_.shape == (4,)
    assert np.all(ens.weights_ >= 0) and ens.weights_.sum() == pytest.approx(1.0)
    assert np.argmax(ens.weights_) == 3  # LinearRegression is the best member on diabetes


def test_mean_and_fixed_weights_are_exact_averages(diabetes):
    X, y = diabetes
    members = _sklearn_regressors()
    mean = EnsembleRegressor(members, cv=None).fit(X, y)
    preds = np.stack([m.predict(X) for m in mean.named_estimators_.values()])
    np.testing.assert_allclose(mean.predict(X), preds.mean(axis=0))
    fixed = EnsembleRegressor(members, combine="weighted", weights=[3, 1, 0], cv=None).fit(X, y)
    np.testing.assert_allclose(fixed.predict(X), 0.75 * preds[0] + 0.25 * preds[1])
    assert fixed.cv_results_ is None


def test_mean_ensemble_cv_score_equals_manual_cv(diabetes):
    X, y = diabetes
    ens = EnsembleRegressor(_sklearn_regressors(), cv=4, random_state=3).fit(X, y)
    manual = []
    for train, test in KFold(4, shuffle=True, random_state=3).split(X):
        preds = [m.fit(X[train], y[train]).predict(X[test]) for _, m in _sklearn_regressors()]
        manual.append(root_mean_squared_error(y[test], np.mean(preds, axis=0)))
    np.testing.assert_allclose(ens.cv_results_["ensemble"]["scores"], manual)


@pytest.mark.parametrize("passthrough", [False, True])
def test_stack_matches_sklearn_stacking_regressor(diabetes, passthrough):
    X, y = diabetes
    folds = KFold(5, shuffle=True, random_state=0)
    ours = EnsembleRegressor(_sklearn_regressors(), combine="stack", cv=folds,
                             passthrough=passthrough).fit(X, y)
    theirs = StackingRegressor(_sklearn_regressors(), final_estimator=RidgeCV(), cv=folds,
                               passthrough=passthrough).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-8)


def test_stack_and_soft_vote_match_sklearn_classifiers(cancer):
    X, y = cancer
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = EnsembleClassifier(_sklearn_classifiers(), combine="stack", cv=folds).fit(X, y)
    theirs = StackingClassifier(_sklearn_classifiers(), cv=folds,
                                final_estimator=LogisticRegression(max_iter=1000)).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    vote = EnsembleClassifier(_sklearn_classifiers(), combine="vote", cv=None).fit(X, y)
    sk_vote = VotingClassifier(_sklearn_classifiers(), voting="soft").fit(X, y)
    np.testing.assert_allclose(vote.predict_proba(X), sk_vote.predict_proba(X))


@pytest.mark.parametrize(("combine", "extra"), CLASSIFICATION_MODES)
def test_classification_modes_score_sensibly(cancer_split, classifiers, combine, extra):
    X_tr, X_te, y_tr, y_te = cancer_split
    ens = EnsembleClassifier(classifiers(), combine=combine, cv=3, random_state=0, **extra)
    ens.fit(X_tr, y_tr)
    cv = ens.cv_results_
    best_acc = max(m["score_mean"] for m in cv["member"].values())
    assert cv["metric"] == "accuracy" and cv["greater_is_better"] is True
    assert cv["ensemble"]["score_mean"] >= best_acc - 0.02
    assert accuracy_score(y_te, ens.predict(X_te)) >= 0.93
    if extra.get("voting") == "hard":
        assert "log_loss" not in cv["ensemble"]["metrics"]
        return
    best_ll = min(m["metrics"]["log_loss"]["mean"] for m in cv["member"].values())
    slack = 1.1 if combine in ("weighted", "stack") else 1.25
    assert cv["ensemble"]["metrics"]["log_loss"]["mean"] <= best_ll * slack
    proba = ens.predict_proba(X_te)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert log_loss(y_te, proba) < 0.2


def test_string_labels_round_trip(cancer_split, classifiers):
    X_tr, X_te, y_tr, y_te = cancer_split
    names = np.array(["malignant", "benign"])
    ens = EnsembleClassifier(classifiers(), combine="weighted", cv=3, random_state=0)
    ens.fit(X_tr, names[y_tr])
    assert list(ens.classes_) == ["benign", "malignant"]
    pred = ens.predict(X_te)
    assert set(pred) <= {"benign", "malignant"}
    assert accuracy_score(names[y_te], pred) >= 0.93
    proba = ens.predict_proba(X_te)
    np.testing.assert_array_equal(ens.classes_[proba.argmax(axis=1)], pred)


@pytest.mark.parametrize("combine", ["weighted", "stack"])
def test_multiclass(iris, combine):
    import lightgbm
    import xgboost

    X, y = iris
    members = [
        ("xgb", xgboost.XGBClassifier(n_estimators=20, max_depth=2, n_jobs=1)),
        ("lgb", lightgbm.LGBMClassifier(n_estimators=20, num_leaves=4, n_jobs=1, verbose=-1)),
        ("lr", make_pipeline(StandardScaler(), LogisticRegression())),
    ]
    ens = EnsembleClassifier(members, combine=combine, cv=3, random_state=0).fit(X, y)
    assert ens.predict_proba(X).shape == (150, 3)
    assert ens.cv_results_["ensemble"]["score_mean"] >= 0.9


def test_hard_vote_accepts_members_without_proba(cancer):
    X, y = cancer
    members = [("ridge", make_pipeline(StandardScaler(), RidgeClassifier())),
               ("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=3))]
    ens = EnsembleClassifier(members, combine="vote", voting="hard", cv=3, random_state=0)
    assert not hasattr(ens, "predict_proba")
    ens.fit(X, y)
    assert accuracy_score(y, ens.predict(X)) > 0.93
    assert "log_loss" not in ens.cv_results_["member"]["ridge"]["metrics"]
    assert "log_loss" in ens.cv_results_["member"]["nb"]["metrics"]
    with pytest.raises(AttributeError, match="predict_proba"):
        ens.predict_proba(X)


def test_two_layer_regression(diabetes_split, regressors):
    X_tr, X_te, y_tr, y_te = diabetes_split
    second = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=2, random_state=0))]
    ens = EnsembleRegressor(layers=[regressors(), second], cv=5, random_state=0).fit(X_tr, y_tr)
    assert ens.combine_ == "stack" and len(ens.layers_) == 2
    layers = {name: r["layer"] for name, r in ens.cv_results_["member"].items()}
    assert layers == {"xgb": 0, "cat": 0, "lgb": 0, "lin": 0, "ridge": 1, "tree": 1}
    best = min(root_mean_squared_error(y_te, m.predict(X_te))
               for _, m in ens.layers_[0])
    assert root_mean_squared_error(y_te, ens.predict(X_te)) <= best * 1.1


def test_two_layer_classification_with_passthrough(cancer_split):
    X_tr, X_te, y_tr, y_te = cancer_split
    first = _sklearn_classifiers()
    second = [("lr2", make_pipeline(StandardScaler(), LogisticRegression())), ("nb2", GaussianNB())]
    ens = EnsembleClassifier(layers=[first, second], combine="weighted", passthrough=True,
                             cv=3, random_state=0).fit(X_tr, y_tr)
    assert ens.weights_.shape == (2,)
    assert accuracy_score(y_te, ens.predict(X_te)) >= 0.93
