"""Parallel training never oversubscribes: n_jobs * threads_per_member <= CPUs."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stackyard.ensemble import EnsembleRegressor, _threads
from stackyard.ensemble._threads import fit_clone, plan


@pytest.fixture
def eight_cpus(monkeypatch):
    monkeypatch.setattr(_threads, "cpu_count", lambda: 8)


@pytest.mark.parametrize(("n_jobs", "expected"), [
    (None, (1, None)), (1, (1, None)), (2, (2, 4)), (3, (3, 2)), (8, (8, 1)),
    (16, (8, 1)), (-1, (8, 1)), (-2, (7, 1)),
])
def test_plan(eight_cpus, n_jobs, expected):
    assert plan(n_jobs, 100) == expected
    workers, threads = plan(n_jobs, 100)
    assert workers * (threads or 1) <= 8


def test_plan_limits_workers_to_tasks(eight_cpus):
    assert plan(4, 1) == (1, None)
    assert plan(-1, 2) == (2, 4)
    with pytest.raises(ValueError, match="n_jobs=0"):
        plan(0, 10)


def test_fit_clone_caps_each_librarys_threads():
    import catboost
    import lightgbm
    import xgboost

    original = xgboost.XGBRegressor()
    capped = fit_clone(original, 4)
    assert capped is not original and original.n_jobs is None and capped.n_jobs == 4
    assert fit_clone(xgboost.XGBRegressor(n_jobs=2), 4).n_jobs == 2
    assert fit_clone(xgboost.XGBRegressor(n_jobs=-1), 4).n_jobs == 4
    lgb = fit_clone(lightgbm.LGBMRegressor(num_threads=16), 4).get_params()
    assert lgb["n_jobs"] == 4 and lgb["num_threads"] == 4
    assert fit_clone(catboost.CatBoostRegressor(), 4).get_params()["thread_count"] == 4
    kept = fit_clone(catboost.CatBoostRegressor(thread_count=2), 4)
    assert kept.get_params()["thread_count"] == 2
    assert fit_clone(RandomForestRegressor(n_jobs=-1), 4).n_jobs == 4
    assert fit_clone(RandomForestRegressor(), 4).n_jobs is None  # sklearn: None is 1 thread
    pipe = fit_clone(make_pipeline(StandardScaler(), RandomForestRegressor(n_jobs=8)), 4)
    assert pipe.get_params()["randomforestregressor__n_jobs"] == 4
    nested = fit_clone(make_pipeline(StandardScaler(), xgboost.XGBRegressor()), 4).get_params()
    assert nested["xgbregressor__n_jobs"] == 4
    nested_cat = fit_clone(make_pipeline(catboost.CatBoostRegressor()), 4).get_params()
    assert nested_cat["catboostregressor"].get_params()["thread_count"] == 4
    assert fit_clone(xgboost.XGBRegressor(), None).n_jobs is None


def test_fit_clone_stops_catboost_files_unless_asked_for(tmp_path):
    import catboost

    def writes(est):
        return est.get_params().get("allow_writing_files")

    assert writes(fit_clone(catboost.CatBoostRegressor(), None)) is False
    assert writes(fit_clone(catboost.CatBoostRegressor(), 2)) is False
    assert writes(fit_clone(catboost.CatBoostRegressor(allow_writing_files=True), 2)) is True
    own_dir = fit_clone(catboost.CatBoostRegressor(train_dir=str(tmp_path)), None)
    assert writes(own_dir) is None and own_dir.get_params()["train_dir"] == str(tmp_path)
    nested = fit_clone(make_pipeline(StandardScaler(), catboost.CatBoostRegressor()), None)
    assert writes(nested.steps[-1][1]) is False


def test_fit_caps_member_threads(monkeypatch, diabetes):
    import catboost
    import lightgbm
    import xgboost

    monkeypatch.setattr(_threads, "cpu_count", lambda: 4)
    members = [
        ("xgb", xgboost.XGBRegressor(n_estimators=5)),
        ("cat", catboost.CatBoostRegressor(iterations=5, verbose=0, allow_writing_files=False)),
        ("lgb", lightgbm.LGBMRegressor(n_estimators=5, verbose=-1)),
        ("rf", RandomForestRegressor(n_estimators=5, n_jobs=-1)),
    ]
    ens = EnsembleRegressor(members, cv=2, n_jobs=2).fit(*diabetes)
    fitted = ens.named_estimators_
    assert fitted["xgb"].n_jobs == 2 and fitted["lgb"].n_jobs == 2 and fitted["rf"].n_jobs == 2
    assert fitted["cat"].get_params()["thread_count"] == 2
    assert ens.members[0][1].n_jobs is None  # the user's estimators are never modified


def test_run_limits_blas_and_openmp_and_uses_threads(monkeypatch):
    calls = []

    @contextlib.contextmanager
    def fake_limits(limits=None, user_api=None):
        calls.append((limits, user_api))
        yield

    monkeypatch.setattr(_threads, "threadpool_limits", fake_limits)
    barrier = threading.Barrier(2, timeout=10)

    def task():
        barrier.wait()  # only returns if both tasks run at the same time
        return threading.get_ident()

    idents = _threads.run([task, task], workers=2, threads=3)
    assert len(set(idents)) == 2
    assert (3, "blas") in calls and calls.count((3, "openmp")) == 2
    assert _threads.run([lambda: 1, lambda: 2], workers=1, threads=None) == [1, 2]


def test_parallel_fit_matches_sequential(diabetes, regressors):
    X, y = diabetes
    seq = EnsembleRegressor(regressors(), combine="stack", cv=3, random_state=0).fit(X, y)
    par = EnsembleRegressor(regressors(), combine="stack", cv=3, random_state=0, n_jobs=2)
    par.fit(X, y)
    np.testing.assert_allclose(par.predict(X), seq.predict(X), rtol=1e-5)
    big = np.repeat(X, 5, axis=0)  # above PARALLEL_PREDICT_ROWS: members predict in parallel
    np.testing.assert_allclose(par.predict(big), seq.predict(big), rtol=1e-5)
