"""``save(dir)`` / ``load(dir)``: a directory of native model files plus ``manifest.json``.

The manifest records library versions, every member's name/kind/class/parameters, the
combination settings and fitted weights, the classes and feature metadata, and the
sha256 of every file. ``load`` checks all hashes *before* deserialising anything and
refuses (ValueError naming the file) on any mismatch or missing file: a model directory
travels through buckets and registries, and a silently swapped member must not serve.
The manifest is written last, via rename, so an interrupted save never looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from . import _native

MANIFEST = "manifest.json"
FORMAT = "stackyard.ensemble/1"
_LIBS = ("numpy", "scipy", "sklearn", "skops", "joblib", "xgboost", "catboost", "lightgbm")
_FITTED_AWAY = ("members", "layers", "final_estimator")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in _LIBS:  # only libraries already imported: loading one just to ask is slow
        module = sys.modules.get(lib)
        if module is not None and hasattr(module, "__version__"):
            out[lib] = str(module.__version__)
    return out


def _plain(value: Any) -> Any:
    """cv_results_ and friends as strict JSON (numpy → Python, non-finite → None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save(est: Any, path: str | PathLike[str]) -> Path:
    """Write a fitted ensemble into directory ``path`` (created if needed)."""
    check_is_fitted(est, "layers_")
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    # Re-saving into the same place: drop the old manifest first, so that an interrupted
    # save leaves "no manifest" rather than one describing half-overwritten files.
    (directory / MANIFEST).unlink(missing_ok=True)
    layers = []
    for i, layer in enumerate(est.layers_):
        entries = []
        for j, (name, member) in enumerate(layer):
            stem = f"layer{i}-{j:02d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
            entry = _native.dump(member, directory, stem, f"member {name!r}")
            entries.append({"name": name, **entry, "params": _native.json_params(member)})
        layers.append(entries)
    final = None
    if est.final_estimator_ is not None:
        final = _native.dump(est.final_estimator_, directory, "final_estimator", "final_estimator")
        final["params"] = _native.json_params(est.final_estimator_)
    params = {k: _native.json_value(v) for k, v in est.get_params(deep=False).items()
              if k not in _FITTED_AWAY}
    files = [e["file"] for layer in layers for e in layer] + ([final["file"]] if final else [])
    names = getattr(est, "feature_names_in_", None)
    classes = getattr(est, "classes_", None)
    manifest = {
        "format": FORMAT,
        "estimator": type(est).__name__,
        "versions": _versions(),
        "params": params,
        "uses_layers": est.layers is not None,
        "custom_final_estimator": est.final_estimator is not None,
        "layers": layers,
        "final_estimator": final,
        "combine": est.combine_,
        "voting": getattr(est, "voting", None),
        "weights": None if est.weights_ is None else _plain(est.weights_),
        "classes": None if classes is None else _plain(classes),
        "classes_dtype": None if classes is None else classes.dtype.str,
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "cv_results": _plain(est.cv_results_),
        "files": {rel: sha256(directory / rel) for rel in files},
    }
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, directory / MANIFEST)
    return directory


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise ValueError(f"{path}: missing; {directory} is not a saved stackyard ensemble")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def verify(directory: Path, manifest: dict[str, Any]) -> None:
    """Raise ValueError naming the first missing, escaping or modified file."""
    files = manifest.get("files") or {}
    referenced = [e["file"] for layer in manifest["layers"] for e in layer]
    if manifest.get("final_estimator"):
        referenced.append(manifest["final_estimator"]["file"])
    for rel in referenced:
        if rel not in files:
            raise ValueError(f"{directory / rel}: not covered by a sha256 in {MANIFEST}")
    root = directory.resolve()
    for rel, expected in files.items():
        path = (directory / rel).resolve()
        if Path(rel).is_absolute() or root not in path.parents:
            raise ValueError(f"{MANIFEST}: file {rel!r} lies outside {directory}")
        if not path.is_file():
            raise ValueError(f"{directory / rel}: missing (listed in {MANIFEST})")
        actual = sha256(path)
        if actual != expected:
            raise ValueError(
                f"{directory / rel}: sha256 {actual} does not match {MANIFEST} ({expected}); "
                "the file was modified or corrupted, refusing to load it"
            )


def _warn_versions(saved: dict[str, str]) -> None:
    for lib, version in _versions().items():
        if lib in saved and saved[lib] != version and lib != "python":
            warnings.warn(f"ensemble saved with {lib} {saved[lib]}, loading with {version}",
                          UserWarning, stacklevel=4)


def load(path: str | PathLike[str], expected: type | None = None) -> Any:
    """Load an ensemble written by ``save`` (EnsembleRegressor or EnsembleClassifier)."""
    from ._classifier import EnsembleClassifier
    from ._regressor import EnsembleRegressor

    directory = Path(path)
    manifest = _read_manifest(directory)
    classes = {c.__name__: c for c in (EnsembleRegressor, EnsembleClassifier)}
    cls = classes.get(manifest.get("estimator"))
    if cls is None:
        raise ValueError(f"{directory / MANIFEST}: unknown estimator {manifest.get('estimator')!r}")
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"{directory} holds an {cls.__name__}, not an {expected.__name__}")
    try:
        verify(directory, manifest)
        est = _build(cls, manifest, directory)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"{directory / MANIFEST}: malformed ({exc!r})") from exc
    _warn_versions(manifest.get("versions", {}))
    return est


def _build(cls: type, manifest: dict[str, Any], directory: Path) -> Any:
    """The fitted ensemble described by an already verified manifest."""
    layers_ = [[(e["name"], _native.load(e, directory)) for e in layer]
               for layer in manifest["layers"]]
    final = manifest.get("final_estimator")
    final_est = _native.load(final, directory) if final else None
    params = {k: v for k, v in manifest["params"].items()
              if not (isinstance(v, dict) and "repr" in v)}
    if manifest["uses_layers"]:
        params["layers"] = [list(layer) for layer in layers_]
    else:
        params["members"] = list(layers_[0])
    if manifest["custom_final_estimator"]:
        params["final_estimator"] = final_est
    est = cls(**params)
    est.layers_ = layers_
    est.named_estimators_ = Bunch(**{n: e for layer in layers_ for n, e in layer})
    est.combine_ = manifest["combine"]
    est.weights_ = None if manifest["weights"] is None else np.asarray(manifest["weights"])
    est.final_estimator_ = final_est
    est.cv_results_ = manifest.get("cv_results")
    est.n_features_in_ = manifest["n_features_in"]
    if manifest.get("feature_names_in") is not None:
        est.feature_names_in_ = np.asarray(manifest["feature_names_in"], dtype=object)
    if manifest.get("classes") is not None:
        est.classes_ = np.asarray(manifest["classes"], dtype=np.dtype(manifest["classes_dtype"]))
    return est
