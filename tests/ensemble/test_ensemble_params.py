"""scikit-learn API contract: params, clone, Pipelines, model selection."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor


def _ensemble(regressors):
    return EnsembleRegressor(regressors(), combine="stack", final_estimator=Ridge(alpha=2.0),
                             cv=3, cv_repeats=2, n_jobs=2, random_state=7)


def test_estimator_types(regressors, classifiers):
    assert is_regressor(EnsembleRegressor(regressors()))
    assert is_classifier(EnsembleClassifier(classifiers()))


def test_get_params_exposes_members_by_name(regressors):
    params = _ensemble(regressors).get_params(deep=True)
    assert params["xgb__max_depth"] == 3
    assert params["cat"].get_params()["iterations"] == 40
    assert params["final_estimator__alpha"] == 2.0
    shallow = _ensemble(regressors).get_params(deep=False)
    assert "xgb" not in shallow and shallow["cv_repeats"] == 2


def test_clone_round_trip(regressors):
    ens = _ensemble(regressors)
    twin = clone(ens)
    assert twin is not ens
    a, b = ens.get_params(deep=False), twin.get_params(deep=False)
    assert a.keys() == b.keys()
    for key in a:
        if key not in ("members", "final_estimator"):
            assert a[key] == b[key]
    for (name_a, est_a), (name_b, est_b) in zip(ens.members, twin.members, strict=True):
        assert name_a == name_b and est_a is not est_b
        assert type(est_a) is type(est_b)
        assert repr(est_a.get_params()) == repr(est_b.get_params())
    assert twin.final_estimator.alpha == 2.0


def test_clone_of_layers_and_fitted_ensemble(diabetes):
    X, y = diabetes
    ens = EnsembleRegressor(layers=[[("a", LinearRegression())], [("b", Ridge())]], cv=3,
                            random_state=0)
    ens.fit(X, y)
    twin = clone(ens)
    assert not hasattr(twin, "layers_")
    assert [[n for n, _ in layer] for layer in twin.layers] == [["a"], ["b"]]
    np.testing.assert_allclose(twin.fit(X, y).predict(X), ens.predict(X))


def test_set_params_routes_to_members(regressors):
    ens = _ensemble(regressors)
    xgb = ens.members[0][1]
    assert ens.set_params(xgb__max_depth=2, combine="mean") is ens
    assert xgb.max_depth == 2 and ens.combine == "mean"
    new = Ridge(alpha=3.0)
    ens.set_params(lin=new, lin__alpha=5.0)
    assert ens.members[3] == ("lin", new) and new.alpha == 5.0
    ens.set_params(final_estimator__alpha=9.0)
    assert ens.final_estimator.alpha == 9.0
    with pytest.raises(ValueError, match="Invalid parameter 'nope'"):
        ens.set_params(nope=1)


def test_set_params_on_layers():
    ens = EnsembleRegressor(layers=[[("a", LinearRegression())], [("b", Ridge())]])
    ens.set_params(b__alpha=4.0, a=Ridge(alpha=2.0))
    assert ens.layers[1][0][1].alpha == 4.0
    assert ens.layers[0][0][1].alpha == 2.0


def test_inside_pipeline_and_cross_val_score(diabetes):
    import xgboost

    X, y = diabetes
    ens = EnsembleRegressor([("lin", LinearRegression()), ("ridge", Ridge()),
                             ("xgb", xgboost.XGBRegressor(n_estimators=20, max_depth=2, n_jobs=1))],
                            combine="weighted", cv=3, random_state=0)
    pipe = make_pipeline(StandardScaler(), ens)
    scores = cross_val_score(pipe, X, y, cv=3, scoring="neg_root_mean_squared_error")
    assert scores.shape == (3,) and np.all(-scores < 60)
    assert pipe.fit(X, y).predict(X[:5]).shape == (5,)


def test_grid_search_over_member_params(cancer):
    X, y = cancer
    ens = EnsembleClassifier([("lr", make_pipeline(StandardScaler(), LogisticRegression())),
                              ("tree", DecisionTreeClassifier(random_state=0))],
                             combine="vote", cv=None)
    search = GridSearchCV(ens, {"tree__max_depth": [1, 3], "voting": ["soft", "hard"]}, cv=3)
    search.fit(X, y)
    assert set(search.best_params_) == {"tree__max_depth", "voting"}
    assert search.best_score_ > 0.93
    assert search.best_estimator_.named_estimators_["tree"].max_depth in (1, 3)
