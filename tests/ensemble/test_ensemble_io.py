"""save/load: native formats, manifest, identical predictions, refusal on tampering."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import stackyard.ensemble as ens_mod
from stackyard.ensemble import EnsembleClassifier, EnsembleRegressor


@pytest.fixture(scope="module")
def saved_regressor(tmp_path_factory, diabetes, regressors):
    X, y = diabetes
    ens = EnsembleRegressor(regressors(), combine="stack", cv=3, random_state=0).fit(X, y)
    path = ens.save(tmp_path_factory.mktemp("reg") / "model")
    return ens, path


def test_regressor_round_trip_is_exact(saved_regressor, diabetes):
    ens, path = saved_regressor
    loaded = ens_mod.load(path)
    assert type(loaded) is EnsembleRegressor
    np.testing.assert_array_equal(loaded.predict(diabetes[0]), ens.predict(diabetes[0]))
    assert loaded.cv_results_ == json.loads(json.dumps(ens.cv_results_))
    assert [type(m) for m in loaded.named_estimators_.values()] == \
        [type(m) for m in ens.named_estimators_.values()]
    assert EnsembleRegressor.load(path).n_features_in_ == 10


def test_manifest_contents(saved_regressor):
    _, path = saved_regressor
    manifest = json.loads((path / "manifest.json").read_text())
    members = manifest["layers"][0]
    assert [(m["name"], m["kind"]) for m in members] == [
        ("xgb", "xgboost"), ("cat", "catboost"), ("lgb", "lightgbm"), ("lin", "sklearn")]
    assert [m["file"].rsplit(".", 1)[1] for m in members] == ["json", "cbm", "txt", "skops"]
    assert members[0]["params"]["max_depth"] == 3
    assert manifest["final_estimator"]["kind"] == "sklearn"
    assert set(manifest["files"]) == {m["file"] for m in members} | {"final_estimator.skops"}
    assert all(len(h) == 64 for h in manifest["files"].values())
    for lib in ("numpy", "scipy", "sklearn", "skops", "xgboost", "catboost", "lightgbm"):
        assert lib in manifest["versions"]
    assert manifest["combine"] == "stack" and manifest["n_features_in"] == 10
    assert manifest["params"]["cv"] == 3 and manifest["classes"] is None


def test_loaded_ensemble_can_be_cloned_and_refit(saved_regressor, diabetes):
    loaded = ens_mod.load(saved_regressor[1])
    refit = clone(loaded).fit(*diabetes)
    np.testing.assert_allclose(refit.predict(diabetes[0]), saved_regressor[0].predict(diabetes[0]),
                               rtol=1e-6)


def test_classifier_round_trip_with_strings_and_dataframe(tmp_path, cancer, classifiers):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    labels = np.array(["malignant", "benign"])[cancer[1]]
    ens = EnsembleClassifier(classifiers(), combine="weighted", cv=3, random_state=0)
    ens.fit(frame, labels)
    loaded = EnsembleClassifier.load(ens.save(tmp_path / "clf"))
    np.testing.assert_array_equal(loaded.predict_proba(frame), ens.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), ens.predict(frame))
    np.testing.assert_array_equal(loaded.classes_, ens.classes_)
    np.testing.assert_array_equal(loaded.weights_, ens.weights_)
    assert list(loaded.feature_names_in_) == list(frame.columns)


def test_multiclass_layers_round_trip(tmp_path, iris):
    import catboost
    import lightgbm
    import xgboost

    X, y = iris
    first = [("xgb", xgboost.XGBClassifier(n_estimators=10, max_depth=2, n_jobs=1)),
             ("lgb", lightgbm.LGBMClassifier(n_estimators=10, num_leaves=4, n_jobs=1, verbose=-1)),
             ("cat", catboost.CatBoostClassifier(iterations=10, verbose=0, thread_count=1,
                                                 allow_writing_files=False))]
    meta = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=4, n_jobs=1, verbose=-1)
    second = [("lr", make_pipeline(StandardScaler(), LogisticRegression()))]
    ens = EnsembleClassifier(layers=[first, second], final_estimator=meta, cv=3, random_state=0)
    ens.fit(X, y)
    loaded = ens_mod.load(ens.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(X), ens.predict_proba(X))
    assert type(loaded.final_estimator_) is lightgbm.LGBMClassifier


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", ["json", "cbm", "txt", "skops"])
def test_tampered_file_is_refused(tmp_path, saved_regressor, suffix):
    import shutil

    path = shutil.copytree(saved_regressor[1], tmp_path / "copy")
    victim = next(path.glob(f"layer0-*.{suffix}"))
    _flip_a_byte(victim)
    with pytest.raises(ValueError, match=f"{victim.name}: sha256 .* does not match"):
        ens_mod.load(path)


def test_missing_file_and_missing_manifest_are_refused(tmp_path, saved_regressor):
    import shutil

    path = shutil.copytree(saved_regressor[1], tmp_path / "copy")
    (path / "final_estimator.skops").unlink()
    with pytest.raises(ValueError, match="final_estimator.skops: missing"):
        ens_mod.load(path)
    (path / "manifest.json").unlink()
    with pytest.raises(ValueError, match="manifest.json: missing"):
        ens_mod.load(path)


def test_manifest_cannot_point_outside_or_skip_hashes(tmp_path, saved_regressor):
    import shutil

    path = shutil.copytree(saved_regressor[1], tmp_path / "copy")
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../evil.skops"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="outside"):
        ens_mod.load(path)
    del manifest["files"]["../evil.skops"]
    del manifest["files"]["final_estimator.skops"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="final_estimator.skops: not covered by a sha256"):
        ens_mod.load(path)


def test_wrong_class_unfitted_and_unsafe_members(tmp_path, saved_regressor, diabetes):
    with pytest.raises(ValueError, match="holds an EnsembleRegressor, not an EnsembleClassifier"):
        EnsembleClassifier.load(saved_regressor[1])
    with pytest.raises(NotFittedError):
        EnsembleRegressor([("lin", LinearRegression())]).save(tmp_path / "unfitted")
    import xgboost

    nested = make_pipeline(StandardScaler(), xgboost.XGBRegressor(n_estimators=5))
    ens = EnsembleRegressor([("pipe", nested)], cv=None).fit(*diabetes)
    with pytest.raises(ValueError, match="member 'pipe'.*cannot be saved safely"):
        ens.save(tmp_path / "unsafe")


def test_save_with_dataframe_features_and_version_warning(tmp_path, diabetes):
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)])
    ens = EnsembleRegressor([("lin", LinearRegression())], cv=None).fit(frame, y)
    path = ens.save(tmp_path / "m")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["feature_names_in"] == list(frame.columns)
    manifest["versions"]["numpy"] = "0.0.1"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="saved with numpy 0.0.1"):
        loaded = ens_mod.load(path)
    np.testing.assert_array_equal(loaded.predict(frame), ens.predict(frame))


def test_resave_into_same_directory_and_malformed_manifest(tmp_path, diabetes):
    X, y = diabetes
    first = EnsembleRegressor([("lin", LinearRegression())], cv=None).fit(X, y)
    second = EnsembleRegressor([("lin", LinearRegression())], cv=None).fit(X[:200], y[:200])
    path = first.save(tmp_path / "m")
    second.save(path)
    np.testing.assert_array_equal(ens_mod.load(path).predict(X), second.predict(X))
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["layers"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest.json: malformed"):
        ens_mod.load(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ens_mod.load(path)
