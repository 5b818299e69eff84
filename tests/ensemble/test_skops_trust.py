"""skops files: only the listed types load, even ones under the sklearn/numpy prefixes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import shuffle

from stackyard.ensemble import EnsembleRegressor, load

X = np.random.default_rng(0).normal(size=(40, 3))
Y = X @ [1.0, 2.0, 3.0]


def _unlisted() -> object:
    """A fitted member holding a function skops reports, under the sklearn prefix that the
    old rule trusted wholesale (``sklearn.utils._indexing.shuffle``)."""
    return make_pipeline(FunctionTransformer(shuffle), Ridge()).fit(X, Y)


def test_listed_types_round_trip(tmp_path) -> None:
    members = [("lin", LinearRegression()), ("tree", DecisionTreeRegressor(max_depth=3)),
               ("knn", KNeighborsRegressor(3))]
    ens = EnsembleRegressor(members, cv=2).fit(X, Y)
    np.testing.assert_allclose(load(ens.save(tmp_path / "m")).predict(X), ens.predict(X))


def test_an_unlisted_type_is_neither_saved_nor_loaded(tmp_path) -> None:
    ens = EnsembleRegressor([("lin", LinearRegression()), ("ridge", Ridge())], cv=2).fit(X, Y)
    ens.layers_[0][1] = ("ridge", _unlisted())
    with pytest.raises(ValueError, match="sklearn.utils._indexing.shuffle"):
        ens.save(tmp_path / "refused")
    # a crafted directory: a good save with one skops file swapped, its hash updated
    path = EnsembleRegressor([("lin", LinearRegression()), ("ridge", Ridge())],
                             cv=2).fit(X, Y).save(tmp_path / "crafted")
    manifest = json.loads((path / "manifest.json").read_text())
    rel = manifest["layers"][0][1]["file"]
    (path / rel).write_bytes(sio.dumps(_unlisted()))
    manifest["files"][rel] = hashlib.sha256((path / rel).read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"untrusted types \['sklearn.utils._indexing.shuffle'"):
        load(path)
