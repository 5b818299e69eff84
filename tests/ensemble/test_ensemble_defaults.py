"""Default arguments: reproducible fits, no CV work nobody asked for, bare estimators.

The ensemble must add no randomness of its own (default folds are in row order, as in
scikit-learn's stacking), must not fit every member k+1 times for a rule that learns
nothing, and must not leave CatBoost's ``catboost_info/`` in the working directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge, RidgeCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import stackyard.ensemble as ens_mod
from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor


def _default_seeded_regressors() -> list:
    """XGBoost, CatBoost, LightGBM and a linear model with their default seeds and file
    settings; only sizes and thread counts (which seed nothing) are set, to stay fast."""
    import catboost
    import lightgbm
    import xgboost

    return [("xgb", xgboost.XGBRegressor(n_estimators=30, n_jobs=1)),
            ("cat", catboost.CatBoostRegressor(iterations=30, thread_count=1, verbose=0)),
            ("lgb", lightgbm.LGBMRegressor(n_estimators=30, n_jobs=1, verbose=-1)),
            ("lin", LinearRegression())]


def _default_seeded_classifiers() -> list:
    import catboost
    import lightgbm
    import xgboost

    return [("xgb", xgboost.XGBClassifier(n_estimators=10, n_jobs=1)),
            ("cat", catboost.CatBoostClassifier(iterations=10, thread_count=1, verbose=0)),
            ("lgb", lightgbm.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1)),
            ("lr", make_pipeline(StandardScaler(), LogisticRegression()))]


@pytest.mark.parametrize("kwargs", [{"combine": "stack"}, {"combine": "weighted"},
                                    {"combine": "stack", "n_jobs": 2}])
def test_two_default_fits_predict_identically(tmp_path, monkeypatch, diabetes, kwargs):
    monkeypatch.chdir(tmp_path)  # where CatBoost would put catboost_info/
    X, y = diabetes
    first = EnsembleRegressor(_default_seeded_regressors(), **kwargs).fit(X, y)
    second = EnsembleRegressor(_default_seeded_regressors(), **kwargs).fit(X, y)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert first.cv_results_ == second.cv_results_ and first.cv_results_["n_splits"] == 5
    assert not (tmp_path / "catboost_info").exists()
    assert first.named_estimators_["cat"].get_params()["allow_writing_files"] is False


def test_two_default_classifier_fits_predict_identically(tmp_path, monkeypatch, cancer):
    monkeypatch.chdir(tmp_path)
    X, y = cancer
    first = EnsembleClassifier(_default_seeded_classifiers(), combine="stack").fit(X, y)
    second = EnsembleClassifier(_default_seeded_classifiers(), combine="stack").fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert not (tmp_path / "catboost_info").exists()


def test_catboost_meta_learner_writes_no_files(tmp_path, monkeypatch, diabetes):
    import catboost

    monkeypatch.chdir(tmp_path)
    meta = catboost.CatBoostRegressor(iterations=5, thread_count=1, verbose=0)
    ens = EnsembleRegressor([("lin", LinearRegression()), ("ridge", Ridge())], combine="stack",
                            final_estimator=meta).fit(*diabetes)
    assert ens.final_estimator_.get_params()["allow_writing_files"] is False
    assert "allow_writing_files" not in meta.get_params()  # the user's estimator is untouched
    assert not (tmp_path / "catboost_info").exists()


def test_default_folds_are_scikit_learns(diabetes, cancer):
    """cv=None with a learnt rule is scikit-learn's default: 5 folds in row order."""
    X, y = diabetes
    members = [("lin", LinearRegression()), ("ridge", Ridge(alpha=10.0))]
    ours = EnsembleRegressor(members, combine="stack").fit(X, y)
    theirs = StackingRegressor(members, final_estimator=RidgeCV()).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-8)
    Xc, yc = cancer
    clf = [("lr", make_pipeline(StandardScaler(), LogisticRegression())), ("nb", GaussianNB())]
    ours_c = EnsembleClassifier(clf, combine="stack").fit(Xc, yc)
    theirs_c = StackingClassifier(clf, final_estimator=LogisticRegression(max_iter=1000))
    np.testing.assert_allclose(ours_c.predict_proba(Xc), theirs_c.fit(Xc, yc).predict_proba(Xc),
                               atol=1e-6)


def test_random_state_shuffles_the_folds(diabetes):
    X, y = diabetes
    members = [("lin", LinearRegression()), ("ridge", Ridge(alpha=10.0))]
    plain = EnsembleRegressor(members, combine="weighted").fit(X, y).cv_results_
    seeded = EnsembleRegressor(members, combine="weighted", random_state=0).fit(X, y).cv_results_
    assert plain["ensemble"]["scores"] != seeded["ensemble"]["scores"]


class CountingRegressor(LinearRegression):
    """A real regressor that counts its fits (class-wide: the ensemble fits clones)."""

    fits: ClassVar[list[int]] = []

    def fit(self, X, y, sample_weight=None):
        CountingRegressor.fits.append(len(y))
        return super().fit(X, y, sample_weight)


@pytest.mark.parametrize(("kwargs", "fits", "n_splits"), [
    ({}, 1, None),                                      # mean: nothing to learn, no CV
    ({"combine": "median"}, 1, None),
    ({"combine": "weighted", "weights": [1, 2]}, 1, None),
    ({"cv": 3}, 4, 3),                                  # CV scores when asked for
    ({"combine": "stack"}, 6, 5),                       # OOF needed: 5 folds by default
    ({"combine": "weighted", "cv": 4}, 5, 4),
])
def test_cross_validation_runs_only_when_needed_or_asked(diabetes, kwargs, fits, n_splits):
    CountingRegressor.fits.clear()
    ens = EnsembleRegressor([("count", CountingRegressor()), ("ridge", Ridge())], **kwargs)
    ens.fit(*diabetes)
    assert len(CountingRegressor.fits) == fits
    if n_splits is None:
        assert ens.cv_results_ is None
    else:
        assert ens.cv_results_["n_splits"] == n_splits


def test_bare_estimators_are_named_like_make_pipeline(tmp_path, diabetes):
    X, y = diabetes
    members = [LinearRegression(), Ridge(alpha=1.0), ("lasso", Lasso()), Ridge(alpha=3.0)]
    ens = EnsembleRegressor(members, combine="weighted", cv=3)
    expected = [name for name, _ in make_pipeline(LinearRegression(), Ridge(), Ridge()).steps]
    assert expected == ["linearregression", "ridge-1", "ridge-2"]
    params = ens.get_params()
    assert params["ridge-1__alpha"] == 1.0 and params["ridge-2__alpha"] == 3.0
    ens.fit(X, y)
    assert list(ens.named_estimators_) == ["linearregression", "ridge-1", "lasso", "ridge-2"]
    assert list(ens.cv_results_["member"]) == list(ens.named_estimators_)
    # Replacing one bare member must not rename the others ("ridge-2" would become "ridge").
    ens.set_params(**{"ridge-1": Lasso(alpha=0.5), "ridge-2__alpha": 7.0})
    names = [name for name, _ in ens.members]
    assert names == ["linearregression", "ridge-1", "lasso", "ridge-2"]
    assert ens.get_params()["ridge-2__alpha"] == 7.0
    twin = clone(ens).fit(X, y)
    assert list(twin.named_estimators_) == names
    loaded = ens_mod.load(twin.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict(X), twin.predict(X))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert [m["name"] for m in manifest["layers"][0]] == names


def test_bare_estimators_in_layers_are_named_across_layers(diabetes):
    ens = EnsembleRegressor(layers=[[LinearRegression(), Ridge()], [Ridge(alpha=5.0)]])
    ens.fit(*diabetes)
    assert [[n for n, _ in layer] for layer in ens.layers_] == \
        [["linearregression", "ridge-1"], ["ridge-2"]]
    assert ens.get_params()["ridge-2__alpha"] == 5.0


def test_a_test_run_that_leaves_catboost_info_in_the_repo_root_fails(tmp_path):
    """The session check in tests/conftest.py, run on a copy of it in a scratch repo."""
    tests = tmp_path / "tests"
    tests.mkdir()
    for helper in ("conftest.py", "waiting.py"):   # the conftest imports its poller
        shutil.copy(Path(__file__).parents[1] / helper, tests / helper)
    (tests / "test_leaky.py").write_text(
        "from pathlib import Path\n\n"
        "def test_leaky():\n"
        "    (Path(__file__).parents[1] / 'catboost_info').mkdir(exist_ok=True)\n")

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(tests)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False)

    leaky = run()
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert "1 passed" in leaky.stdout and "tests left ['catboost_info']" in leaky.stdout
    assert run().returncode == 1  # already there at the start still counts: delete it
    (tests / "test_leaky.py").write_text("def test_clean():\n    pass\n")
    (tmp_path / "catboost_info").rmdir()
    clean = run()
    assert clean.returncode == 0, clean.stdout + clean.stderr
