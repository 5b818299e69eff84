"""Shared data and small, fast member factories for the stackyard.ensemble tests."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# One thread per GBDT: on tiny data OpenMP start-up and spin-waiting cost more than they
# save, and the tests stay fast when other processes share the 2 cores.
XGB = {"n_jobs": 1}
CAT = {"thread_count": 1, "verbose": 0, "allow_writing_files": False, "random_seed": 0}
LGB = {"n_jobs": 1, "verbose": -1}


@pytest.fixture(scope="session")
def diabetes():
    return load_diabetes(return_X_y=True)


@pytest.fixture(scope="session")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="session")
def iris():
    return load_iris(return_X_y=True)


def gbdt_regressors() -> list:
    import catboost
    import lightgbm
    import xgboost

    return [
        ("xgb", xgboost.XGBRegressor(n_estimators=40, max_depth=3, learning_rate=0.1, **XGB)),
        ("cat", catboost.CatBoostRegressor(iterations=40, depth=4, **CAT)),
        ("lgb", lightgbm.LGBMRegressor(n_estimators=40, num_leaves=8, **LGB)),
        ("lin", LinearRegression()),
    ]


def gbdt_classifiers() -> list:
    import catboost
    import lightgbm
    import xgboost

    return [
        ("xgb", xgboost.XGBClassifier(n_estimators=40, max_depth=3, learning_rate=0.1, **XGB)),
        ("cat", catboost.CatBoostClassifier(iterations=40, depth=4, **CAT)),
        ("lgb", lightgbm.LGBMClassifier(n_estimators=40, num_leaves=8, **LGB)),
        ("lr", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))),
    ]


@pytest.fixture(scope="session")
def regressors():
    return gbdt_regressors


@pytest.fixture(scope="session")
def classifiers():
    return gbdt_classifiers
