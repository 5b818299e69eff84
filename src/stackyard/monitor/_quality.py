"""Model quality: predictions joined with ground truth, scored (scikit-learn's metrics) in
Model Monitor's model-quality ``statistics.json`` / ``constraints.json`` shape, and checked
against a baseline's thresholds.

Predictions come from one dataset holding both columns (a baseline), or from endpoint
capture / transform output plus a separate ground-truth file. Those two are joined on
``inferenceId`` when the predictions carry one, else on ``eventId``, else by row order
(SageMaker's ground-truth records name the request in ``eventMetadata.eventId``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stackyard._checks import check_number
from stackyard.errors import UsageError

REGRESSION, BINARY, MULTICLASS = "Regression", "BinaryClassification", "MulticlassClassification"
PROBLEM_TYPES = (REGRESSION, BINARY, MULTICLASS)
_SECTION = {REGRESSION: "regression", BINARY: "binary_classification",
            MULTICLASS: "multiclass_classification"}
# metric -> the operator its suggested constraint uses (errors may not grow, scores not fall)
_METRICS = {
    REGRESSION: {"mae": "GreaterThanThreshold", "mse": "GreaterThanThreshold",
                 "rmse": "GreaterThanThreshold", "r2": "LessThanThreshold"},
    BINARY: dict.fromkeys(("accuracy", "precision", "recall", "f1", "auc"),
                          "LessThanThreshold"),
    MULTICLASS: dict.fromkeys(("accuracy", "weighted_precision", "weighted_recall",
                               "weighted_f1"), "LessThanThreshold"),
}
_OPS = {"GreaterThanThreshold": lambda v, t: v > t, "LessThanThreshold": lambda v, t: v < t,
        "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
        "LessThanOrEqualToThreshold": lambda v, t: v <= t}
_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


def check_problem_type(problem_type: Any) -> str:
    if problem_type not in PROBLEM_TYPES:
        raise UsageError(f"problem_type {problem_type!r}: use one of {', '.join(PROBLEM_TYPES)}")
    return problem_type


# ---- reading -----------------------------------------------------------------------------
def _column(attr: Any, what: str) -> str | None:
    """A column name; an index (``0`` or ``"0"``) means ``_c<index>`` (headerless data)."""
    if attr is None:
        return None
    s = str(attr)
    return f"_c{int(s)}" if s.isascii() and s.isdigit() else s


def dataset_columns(dataset: str, dataset_format: Any, names: dict[str, str | None]
                    ) -> dict[str, list[Any]]:
    """The named columns of a dataset (read in chunks; only these columns are kept)."""
    from stackyard.monitor._formats import read_chunks

    cols = {k: _column(v, k) for k, v in names.items()}
    out: dict[str, list[Any]] = {k: [] for k, v in cols.items() if v}
    for table in read_chunks(dataset, dataset_format):
        for key, col in cols.items():
            if not col:
                continue
            if col not in table.column_names:
                raise UsageError(f"{key} {names[key]!r} is not a column of {dataset}; it has "
                                 f"{table.column_names[:20]}")
            out[key].extend(table.column(col).to_pylist())
    return out


def _records(path: Path) -> Iterator[tuple[str | None, str | None, Any]]:
    """(inferenceId, eventId, value) of each prediction or ground-truth record: SageMaker
    capture lines, SageMaker ground-truth lines, JSON lines ``{"prediction"|"label": v}``,
    or one CSV value per line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if not line:
                continue
            if not line.startswith("{"):
                yield None, None, line.split(",")[0]
                continue
            try:
                doc = json.loads(line)
            except ValueError as e:
                raise UsageError(f"{path}: a line is not valid JSON ({e})") from None
            meta = doc.get("eventMetadata") or {}
            if "captureData" in doc:
                out = (doc["captureData"] or {}).get("endpointOutput") or {}
                value = _first_value(out)
            elif "groundTruthData" in doc:
                value = _first_value(doc["groundTruthData"] or {})
            else:
                value = next((doc[k] for k in ("prediction", "label", "predicted_label",
                                               "score") if k in doc), None)
            yield meta.get("inferenceId") or None, meta.get("eventId") or None, value


def _first_value(entry: dict[str, Any]) -> Any:
    import base64

    data = entry.get("data", "")
    if entry.get("encoding") == "BASE64":
        data = base64.b64decode(data).decode("utf-8", "replace")
    text = str(data).strip()
    if text.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except ValueError:
            return text
        while isinstance(doc, dict):
            doc = next(iter(doc.values()), None)
        while isinstance(doc, list) and doc:
            doc = doc[0]
        return doc
    return text.splitlines()[0].split(",")[0] if text else None


def joined(predictions: str, ground_truth: str) -> tuple[list[Any], list[Any]]:
    """(predicted, actual) joined on inferenceId, else eventId, else row order."""
    from stackyard.monitor._formats import local_files

    with local_files(predictions) as files:
        preds = [r for p in files for r in _records(p)]
    with local_files(ground_truth) as files:
        truth = [r for p in files for r in _records(p)]
    if not preds or not truth:
        raise UsageError(f"no {'predictions' if not preds else 'ground truth'} records in "
                         f"{predictions if not preds else ground_truth}")
    truth_ids = {(t[0] or t[1]): t[2] for t in truth if t[0] or t[1]}
    for pos in (0, 1):  # inferenceId, then eventId
        if truth_ids and all(p[pos] for p in preds):
            pairs = [(p[2], truth_ids[p[pos]]) for p in preds if p[pos] in truth_ids]
            if not pairs:
                raise UsageError("no prediction matches a ground-truth record by "
                                 f"{'inferenceId' if pos == 0 else 'eventId'}")
            return [p for p, _ in pairs], [a for _, a in pairs]
    if len(preds) != len(truth):
        raise UsageError(f"{len(preds)} predictions and {len(truth)} ground-truth records "
                         "carry no ids to join on, and row order needs equal counts")
    return [p[2] for p in preds], [t[2] for t in truth]


# ---- metrics -------------------------------------------------------------------------------
def _numbers(values: list[Any], what: str) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        bad = next(v for v in values if not _is_number(v))
        raise UsageError(f"{what}: {bad!r} is not a number") from None
    if not np.isfinite(arr).all():
        raise UsageError(f"{what}: values must be finite numbers")
    return arr


def _is_number(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _binary(values: list[Any], what: str) -> np.ndarray:
    out = []
    for v in values:
        s = str(v).strip().lower()
        if s not in _TRUE | _FALSE:
            raise UsageError(f"{what}: {v!r} is not a binary label (0/1 or true/false)")
        out.append(1 if s in _TRUE else 0)
    return np.asarray(out)


def metrics(problem_type: str, actual: list[Any], predicted: list[Any] | None,
            probability: list[Any] | None = None, threshold: float = 0.5) -> dict[str, float]:
    """The metric values of one problem type (SageMaker's names)."""
    from sklearn import metrics as m

    check_problem_type(problem_type)
    if not actual:
        raise UsageError("no rows to score")
    if problem_type == REGRESSION:
        y, p = _numbers(actual, "ground truth"), _numbers(predicted or [], "predictions")
        mse = float(m.mean_squared_error(y, p))
        return {"mae": float(m.mean_absolute_error(y, p)), "mse": mse, "rmse": math.sqrt(mse),
                "r2": float(m.r2_score(y, p))}
    if problem_type == BINARY:
        y = _binary(actual, "ground truth")
        prob = _numbers(probability, "probabilities") if probability is not None else None
        if predicted is not None:
            p = _binary(predicted, "predictions")
        elif prob is not None:
            p = (prob >= threshold).astype(int)
        else:
            raise UsageError("BinaryClassification needs inference_attribute or "
                             "probability_attribute")
        out = {"accuracy": float(m.accuracy_score(y, p)),
               "precision": float(m.precision_score(y, p, zero_division=0)),
               "recall": float(m.recall_score(y, p, zero_division=0)),
               "f1": float(m.f1_score(y, p, zero_division=0))}
        if prob is not None and len(set(y.tolist())) == 2:
            out["auc"] = float(m.roc_auc_score(y, prob))
        return out
    y, p = [str(v) for v in actual], [str(v) for v in predicted or []]
    return {"accuracy": float(m.accuracy_score(y, p)),
            "weighted_precision": float(m.precision_score(y, p, average="weighted",
                                                          zero_division=0)),
            "weighted_recall": float(m.recall_score(y, p, average="weighted", zero_division=0)),
            "weighted_f1": float(m.f1_score(y, p, average="weighted", zero_division=0))}


def statistics(problem_type: str, values: dict[str, float], n: int) -> dict[str, Any]:
    return {"version": 0.0, "dataset": {"item_count": n},
            f"{_SECTION[problem_type]}_metrics": {k: {"value": v} for k, v in values.items()}}


def suggest_constraints(problem_type: str, values: dict[str, float]) -> dict[str, Any]:
    ops = _METRICS[problem_type]
    return {"version": 0.0, f"{_SECTION[problem_type]}_constraints": {
        k: {"threshold": v, "comparison_operator": ops[k]} for k, v in values.items()}}


def check_constraints(doc: Any, problem_type: str) -> dict[str, dict[str, Any]]:
    """The ``<problem>_constraints`` section of a model-quality constraints file, checked."""
    key = f"{_SECTION[problem_type]}_constraints"
    if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
        raise UsageError(f"model quality constraints: expected an object with {key!r} "
                         f"(problem type {problem_type})")
    section = doc[key]
    unknown = sorted(set(section) - set(_METRICS[problem_type]))
    if unknown:
        raise UsageError(f"model quality constraints: unknown check(s) {unknown} for "
                         f"{problem_type}; known: {sorted(_METRICS[problem_type])}")
    for name, c in section.items():
        if not isinstance(c, dict) or c.get("comparison_operator") not in _OPS:
            raise UsageError(f"model quality constraint {name!r}: comparison_operator must be "
                             f"one of {sorted(_OPS)}")
        check_number(c.get("threshold"), f"threshold of {name!r}")
    return section


def violations(section: dict[str, dict[str, Any]], values: dict[str, float]
               ) -> list[dict[str, Any]]:
    out = []
    for name, c in section.items():
        if name in values and _OPS[c["comparison_operator"]](values[name], c["threshold"]):
            out.append({"constraint_check_type": c["comparison_operator"],
                        "metric_name": name,
                        "description": f"Metric {name} with {values[name]:.6g} was "
                                       f"{c['comparison_operator']} '{c['threshold']:.6g}'"})
    return out
