"""Model Monitor's six data-quality checks: a current profile against a baseline's
``statistics.json`` and ``constraints.json``, giving ``constraint_violations.json``.

* ``data_type_check``: the share of present values of the baseline's type is below
  ``datatype_check_threshold`` (Integral values count as Fractional; anything is a String).
* ``completeness_check``: the share of non-missing values is below the feature's
  ``completeness``.
* ``baseline_drift_check``: the L∞ distance between the baseline's and the current
  distribution (the CDFs of the KLL sketches for numbers, the category shares for strings)
  exceeds ``comparison_threshold`` (``categorical_comparison_threshold``). With
  ``comparison_method: Robust`` the distance is first reduced by the small-sample allowance
  ``1.8 * sqrt((n + m) / (n * m))`` (n, m: present values in each), so a small sample is
  not called drift for noise alone.
* ``missing_column_check`` / ``extra_column_check``: a baseline column the data lacks, a
  data column the baseline lacks.
* ``categorical_values_check``: the share of values inside the feature's
  ``string_constraints.domains`` is below ``domain_content_threshold``.

``num_constraints.is_non_negative`` is read and kept, as Model Monitor writes it, but is not
one of the six checks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from stackyard._checks import check_number
from stackyard.errors import UsageError
from stackyard.monitor._profile import FRACTIONAL, INTEGRAL, STRING, TYPES, Profiler

ROBUST_C = 1.8
CHECKS = ("data_type_check", "completeness_check", "baseline_drift_check",
          "missing_column_check", "extra_column_check", "categorical_values_check")
_FEATURE_KEYS = {"name", "inferred_type", "completeness", "num_constraints",
                 "string_constraints", "monitoringConfigOverrides"}
_CONFIG_KEYS = {"evaluate_constraints", "emit_metrics", "datatype_check_threshold",
                "domain_content_threshold", "distribution_constraints"}
_DIST_KEYS = {"perform_comparison", "comparison_threshold", "comparison_method",
              "comparion_method", "categorical_comparison_threshold",
              "categorical_drift_method"}


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``, or ``UsageError`` naming the file and the problem."""
    from stackyard._checks import uri_to_path

    p = uri_to_path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {p} does not exist") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{what} {p} is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{what} {p} must hold a JSON object")
    return doc


def _unknown(keys: Any, known: set[str], where: str) -> None:
    extra = sorted(set(keys) - known)
    if extra:
        raise UsageError(f"constraints: unknown check(s) {', '.join(map(repr, extra))} in "
                         f"{where}; known: {', '.join(sorted(known))}")


def check_constraints(doc: Any) -> dict[str, Any]:
    """``doc`` validated as Model Monitor ``constraints.json``, with the monitoring config
    normalised (defaults filled in; the older ``comparion_method`` spelling read as
    ``comparison_method``)."""
    from stackyard.monitor._profile import default_config

    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise UsageError("constraints: expected an object with a 'features' list "
                         "(Model Monitor's constraints.json)")
    _unknown(doc, {"version", "features", "monitoring_config"}, "the top level")
    for f in doc["features"]:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise UsageError(f"constraints: feature {str(f)[:60]!r} needs a 'name'")
        _unknown(f, _FEATURE_KEYS, f"feature {f['name']!r}")
        if f.get("inferred_type", STRING) not in TYPES:
            raise UsageError(f"constraints: feature {f['name']!r} has inferred_type "
                             f"{f['inferred_type']!r}; use one of {', '.join(TYPES)}")
        _unknown(f.get("num_constraints") or {}, {"is_non_negative"},
                 f"num_constraints of {f['name']!r}")
        _unknown(f.get("string_constraints") or {}, {"domains"},
                 f"string_constraints of {f['name']!r}")
        if "completeness" in f:
            check_number(f["completeness"], f"completeness of {f['name']!r}", lo=0, hi=1)
    config = doc.get("monitoring_config") or {}
    _unknown(config, _CONFIG_KEYS, "monitoring_config")
    dist = dict(config.get("distribution_constraints") or {})
    _unknown(dist, _DIST_KEYS, "monitoring_config.distribution_constraints")
    if "comparion_method" in dist:  # the spelling older Model Monitor versions wrote
        dist.setdefault("comparison_method", dist.pop("comparion_method"))
    merged = default_config()
    merged.update({k: v for k, v in config.items() if k != "distribution_constraints"})
    merged["distribution_constraints"].update(dist)
    d = merged["distribution_constraints"]
    if d["comparison_method"] not in ("Robust", "Simple"):
        raise UsageError(f"constraints: comparison_method {d['comparison_method']!r}; "
                         "use Robust or Simple")
    if d["categorical_drift_method"] != "LInfinity":
        raise UsageError(f"constraints: categorical_drift_method "
                         f"{d['categorical_drift_method']!r} is not supported; use LInfinity")
    for where, key in (("", "evaluate_constraints"), ("", "emit_metrics"),
                       ("distribution_constraints.", "perform_comparison")):
        value = (d if where else merged)[key]
        if value not in ("Enabled", "Disabled"):
            raise UsageError(f"constraints: monitoring_config.{where}{key} {value!r}; use "
                             "Enabled or Disabled")
    for key in ("comparison_threshold", "categorical_comparison_threshold"):
        check_number(d[key], key, lo=0, hi=1)
    for key in ("datatype_check_threshold", "domain_content_threshold"):
        check_number(merged[key], key, lo=0, hi=1)
    return {**doc, "monitoring_config": merged}


def check_statistics(doc: Any, constraints: dict[str, Any]) -> dict[str, Any]:
    """Baseline statistics that describe the same features as the constraints."""
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list) or not all(
            isinstance(f, dict) and "name" in f for f in doc["features"]):
        raise UsageError("baseline statistics: expected an object with a 'features' list "
                         "(Model Monitor's statistics.json)")
    s = [f["name"] for f in doc["features"]]
    c = [f["name"] for f in constraints["features"]]
    if set(s) != set(c):
        raise UsageError(f"the baseline's statistics and constraints name different columns: "
                         f"only in statistics {sorted(set(s) - set(c))}, only in constraints "
                         f"{sorted(set(c) - set(s))}")
    return doc


# ---- distances ---------------------------------------------------------------------------
def sketch_items(numerical: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(items, weights) of a ``numerical_statistics`` KLL sketch (level ``i`` weighs 2**i)."""
    data = (((numerical.get("distribution") or {}).get("kll") or {}).get("sketch") or {}
            ).get("data")
    if not isinstance(data, list) or not any(data):
        return None
    items = np.concatenate([np.asarray(level, dtype=float) for level in data])
    weights = np.concatenate([np.full(len(level), 2.0 ** i) for i, level in enumerate(data)])
    return items, weights


def cdf_at(items: np.ndarray, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    order = np.argsort(items, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(weights[order])])
    return cum[np.searchsorted(items[order], points, side="right")] / cum[-1]


def linf_numeric(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """sup |F_a - F_b|: both CDFs are steps, so the supremum is reached at an item."""
    points = np.union1d(a[0], b[0])
    return float(np.max(np.abs(cdf_at(*a, points) - cdf_at(*b, points))))


def categorical_shares(string_stats: dict[str, Any]) -> dict[str, float]:
    present = (string_stats.get("common") or {}).get("num_present") or 0
    buckets = ((string_stats.get("distribution") or {}).get("categorical") or {}).get(
        "buckets") or []
    return {str(b["value"]): b["count"] / present for b in buckets} if present else {}


def linf_categorical(a: dict[str, float], b: dict[str, float]) -> float:
    return max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in a.keys() | b.keys()), default=0.0)


def robust_allowance(n: int, m: int) -> float:
    """The small-sample allowance ``c * sqrt((n + m) / (n * m))`` with c = 1.8."""
    return ROBUST_C * math.sqrt((n + m) / (n * m)) if n and m else math.inf


# ---- the checks ----------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.4g}%"


def compare(statistics: dict[str, Any], constraints: dict[str, Any], current: Profiler,
            current_stats: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(violations, drift rows): Model Monitor's violation records, and per compared feature
    ``{feature_name, kind, distance, allowance, threshold, method, drifted}`` for the report."""
    config = constraints["monitoring_config"]
    dist = config["distribution_constraints"]
    robust = dist["comparison_method"] == "Robust"
    base_stats = {f["name"]: f for f in statistics["features"]}
    cur_stats = {f["name"]: f for f in current_stats["features"]}
    violations: list[dict[str, Any]] = []
    drift: list[dict[str, Any]] = []

    def violate(feature: str, check: str, description: str) -> None:
        violations.append({"feature_name": feature, "constraint_check_type": check,
                           "description": description})

    rows = current.rows
    for f in constraints["features"]:
        name = f["name"]
        col = current.columns.get(name)
        if col is None:
            violate(name, "missing_column_check",
                    f"Baseline column {name!r} is missing from the data")
            continue
        expected = f.get("inferred_type", STRING)
        present = col.present
        if present and expected in (INTEGRAL, FRACTIONAL):
            ok = col.n_int + (col.n_frac if expected == FRACTIONAL else 0)
            threshold = float(config["datatype_check_threshold"])
            if ok / present < threshold:
                violate(name, "data_type_check",
                        f"Data type match requirement is not met. Expected data type: "
                        f"{expected}, expected match: {_pct(threshold)}. Observed: only "
                        f"{_pct(ok / present)} of {present} values are {expected} "
                        f"(Integral {col.n_int}, Fractional {col.n_frac}, String {col.n_str})")
        if "completeness" in f and rows:
            want, have = float(f["completeness"]), present / rows
            if have < want - 1e-12:
                violate(name, "completeness_check",
                        f"Data completeness requirement is not met. Expected: {_pct(want)} "
                        f"non-missing, observed: {_pct(have)} ({rows - present} of {rows} "
                        "missing)")
        domains = (f.get("string_constraints") or {}).get("domains")
        if domains and present:
            threshold = float(config["domain_content_threshold"])
            share = col.in_domain / present
            if share < threshold:
                violate(name, "categorical_values_check",
                        f"Data content check: {_pct(share)} of {present} values are in the "
                        f"baseline domain (expected at least {_pct(threshold)}); "
                        f"{present - col.in_domain} values are outside {domains[:10]}")
        if dist["perform_comparison"] == "Enabled":
            row = _drift(name, base_stats.get(name) or {}, cur_stats[name], dist, robust)
            if row is not None:
                drift.append(row)
                if row["drifted"]:
                    adj = (f" (Robust: {row['distance']:.4g} - allowance "
                           f"{row['allowance']:.4g} = {row['effective']:.4g})" if robust else "")
                    violate(name, "baseline_drift_check",
                            f"Baseline drift distance: {row['effective']:.4g} exceeds "
                            f"threshold: {row['threshold']:.4g}{adj}")
    known = {f["name"] for f in constraints["features"]}
    for name in current.columns:
        if name not in known:
            violate(name, "extra_column_check", f"Column {name!r} is not in the baseline")
    return violations, drift


def _drift(name: str, base: dict[str, Any], cur: dict[str, Any], dist: dict[str, Any],
           robust: bool) -> dict[str, Any] | None:
    if "numerical_statistics" in base and "numerical_statistics" in cur:
        a = sketch_items(base["numerical_statistics"])
        b = sketch_items(cur["numerical_statistics"])
        if a is None or b is None:
            return None
        distance, kind = linf_numeric(a, b), "numerical"
        threshold = float(dist["comparison_threshold"])
        n = base["numerical_statistics"]["common"]["num_present"]
        m = cur["numerical_statistics"]["common"]["num_present"]
    elif "string_statistics" in base and "string_statistics" in cur:
        a_shares = categorical_shares(base["string_statistics"])
        b_shares = categorical_shares(cur["string_statistics"])
        if not a_shares or not b_shares:
            return None
        distance, kind = linf_categorical(a_shares, b_shares), "categorical"
        threshold = float(dist["categorical_comparison_threshold"])
        n = base["string_statistics"]["common"]["num_present"]
        m = cur["string_statistics"]["common"]["num_present"]
    else:
        return None
    allowance = robust_allowance(n, m) if robust else 0.0
    effective = max(0.0, distance - allowance)
    return {"feature_name": name, "kind": kind, "distance": distance, "allowance": allowance,
            "effective": effective, "threshold": threshold,
            "method": "Robust" if robust else "Simple", "drifted": effective > threshold}
