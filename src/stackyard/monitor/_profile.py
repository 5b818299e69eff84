"""Streaming data profiles in Model Monitor's ``statistics.json`` schema, and the
``constraints.json`` suggested from them.

Each column keeps mergeable state only: counts per inferred value type, sum / mean / M2
(Chan's parallel update, so ``std_dev`` is the population standard deviation Deequ
reports), min, max, a KLL quantile sketch, an HLL distinct-count sketch and a frequent-items
sketch (Apache DataSketches). Memory is bounded by the sketches, not the data.

Types follow Deequ: a column whose present values are all integers is ``Integral``, all
numbers ``Fractional``, anything else ``String``; no present value at all is ``Unknown``.
The string sketches of a column start at the first chunk in which it shows a non-numeric
value (numeric columns never pay for them); its counts are always exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KLL_K = 2048
KLL_C = 0.64
HLL_LG_K = 12
TOP_VALUES = 6  # log2 of the frequent-items map size (64 slots)
DOMAIN_MAX = 30  # a String column with at most this many values gets a domain constraint
BUCKETS = 10
_INT_RE = r"^-?\d+$"
_NUM_RE = r"^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"
TYPES = (INTEGRAL, FRACTIONAL, STRING, UNKNOWN)


@dataclass
class Column:
    """The mergeable state of one column."""

    name: str
    missing: int = 0
    n_int: int = 0
    n_frac: int = 0
    n_str: int = 0
    count: int = 0  # numeric values seen
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    in_domain: int = 0
    domain: pa.Array | None = None
    kll: Any = None
    hll: Any = None
    freq: Any = None

    @property
    def present(self) -> int:
        return self.n_int + self.n_frac + self.n_str

    @property
    def inferred_type(self) -> str:
        if self.n_str:
            return STRING
        if self.n_frac:
            return FRACTIONAL
        return INTEGRAL if self.n_int else UNKNOWN

    # ---- updates ------------------------------------------------------------------
    def add(self, arr: pa.ChunkedArray | pa.Array) -> None:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        t = arr.type
        if pa.types.is_floating(t):
            valid = pc.drop_null(pc.if_else(pc.is_nan(arr), None, arr))
            self.missing += len(arr) - len(valid)
            self.n_frac += len(valid)
            self._numbers(valid)
        elif pa.types.is_integer(t):
            valid = pc.drop_null(arr)
            self.missing += len(arr) - len(valid)
            self.n_int += len(valid)
            self._numbers(valid)
        else:
            text = pc.cast(arr, pa.string()) if not pa.types.is_string(t) else arr
            valid = pc.drop_null(text)
            self.missing += len(arr) - len(valid)
            is_num = pc.match_substring_regex(valid, _NUM_RE)
            nums = pc.filter(valid, is_num)
            n_int = pc.sum(pc.match_substring_regex(nums, _INT_RE)).as_py() or 0
            self.n_int += n_int
            self.n_frac += len(nums) - n_int
            self.n_str += len(valid) - len(nums)
            if len(nums):
                self._numbers(pc.cast(nums, pa.float64()))
            if self.n_str:
                self._strings(valid)
        if self.domain is not None:
            text = pc.drop_null(pc.cast(arr, pa.string()))
            self.in_domain += pc.sum(pc.is_in(text, value_set=self.domain)).as_py() or 0

    def _numbers(self, arr: pa.Array) -> None:
        values = np.array(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False),
                            dtype=np.float64)
        n = len(values)
        if not n:
            return
        if self.kll is None:
            from datasketches import kll_doubles_sketch

            self.kll = kll_doubles_sketch(KLL_K)
        self.kll.update(values)
        b_total = float(values.sum())
        b_mean = b_total / n
        b_m2 = float(((values - b_mean) ** 2).sum())
        both = self.count + n
        delta = b_mean - self.mean
        self.m2 += b_m2 + delta * delta * self.count * n / both
        self.mean += delta * n / both
        self.count = both
        self.total += b_total
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))

    def _strings(self, arr: pa.Array) -> None:
        if self.hll is None:
            from datasketches import frequent_strings_sketch, hll_sketch

            self.hll, self.freq = hll_sketch(HLL_LG_K), frequent_strings_sketch(TOP_VALUES)
        counts = pc.value_counts(arr)
        for value, n in zip(counts.field("values").to_pylist(),
                            counts.field("counts").to_pylist(), strict=True):
            self.hll.update(value)
            self.freq.update(value, n)

    # ---- results ------------------------------------------------------------------
    def statistics(self, rows: int) -> dict[str, Any]:
        common = {"num_present": self.present, "num_missing": rows - self.present}
        kind = self.inferred_type
        out: dict[str, Any] = {"name": self.name, "inferred_type": kind}
        if kind in (INTEGRAL, FRACTIONAL):
            out["numerical_statistics"] = {
                "common": common, "mean": self.mean, "sum": self.total,
                "std_dev": math.sqrt(self.m2 / self.count) if self.count else 0.0,
                "min": self.lo, "max": self.hi,
                "distribution": {"kll": {"buckets": self._buckets(),
                                         "sketch": self._sketch()}}}
        elif kind == STRING:
            top = self.top_values() if self.freq is not None else []
            out["string_statistics"] = {
                "common": common,
                "distinct_count": round(self.hll.get_estimate()) if self.hll else 0,
                "distribution": {"categorical": {"buckets": [
                    {"value": v, "count": c} for v, c in top]}}}
        else:
            out["string_statistics"] = {"common": common, "distinct_count": 0}
        return out

    def top_values(self) -> list[tuple[str, int]]:
        from datasketches import frequent_items_error_type

        items = self.freq.get_frequent_items(frequent_items_error_type.NO_FALSE_POSITIVES)
        return [(item, int(est)) for item, est, _lo, _hi in items]

    def _buckets(self) -> list[dict[str, float]]:
        if self.kll is None or self.lo == self.hi:
            return [{"lower_bound": self.lo, "upper_bound": self.hi, "count": self.count}]
        edges = np.linspace(self.lo, self.hi, BUCKETS + 1)
        cdf = [0.0, *self.kll.get_cdf(list(edges[1:-1])), 1.0]
        return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]),
                 "count": round((cdf[i + 1] - cdf[i]) * self.count)} for i in range(BUCKETS)]

    def _sketch(self) -> dict[str, Any]:
        """The sketch's retained items by level (level ``i`` weighs ``2**i``), the layout
        Model Monitor writes under ``sketch.data``."""
        levels: dict[int, list[float]] = {}
        for item, weight in self.kll:
            levels.setdefault(int(weight).bit_length() - 1, []).append(float(item))
        data = [sorted(levels.get(i, [])) for i in range(max(levels, default=-1) + 1)]
        return {"parameters": {"c": KLL_C, "k": float(KLL_K)}, "data": data}


class Profiler:
    """Feed tables with ``add``; ``statistics()`` is Model Monitor's ``statistics.json``.
    ``domains`` (column -> allowed values) makes the profile count values inside them,
    for ``categorical_values_check``."""

    def __init__(self, domains: dict[str, list[str]] | None = None) -> None:
        self.rows = 0
        self.columns: dict[str, Column] = {}
        self.domains = {k: pa.array([str(v) for v in vs], type=pa.string())
                        for k, vs in (domains or {}).items()}

    def add(self, table: pa.Table) -> None:
        for name in table.column_names:
            col = self.columns.get(name)
            if col is None:  # a column first seen late was missing in every earlier row
                col = self.columns[name] = Column(name, missing=self.rows,
                                                  domain=self.domains.get(name))
            col.add(table.column(name))
        for name, col in self.columns.items():
            if name not in table.column_names:
                col.missing += table.num_rows
        self.rows += table.num_rows

    def statistics(self) -> dict[str, Any]:
        return {"version": 0.0, "dataset": {"item_count": self.rows},
                "features": [c.statistics(self.rows) for c in self.columns.values()]}


def suggest_constraints(statistics: dict[str, Any], profiler: Profiler | None = None
                        ) -> dict[str, Any]:
    """Model Monitor's suggested ``constraints.json``: each feature's type and observed
    completeness, ``is_non_negative`` for numbers, a ``domains`` list for String columns with
    few values, and the default ``monitoring_config``."""
    rows = statistics["dataset"]["item_count"] or 1
    features = []
    for f in statistics["features"]:
        stats = f.get("numerical_statistics") or f.get("string_statistics") or {}
        present = stats.get("common", {}).get("num_present", 0)
        entry: dict[str, Any] = {"name": f["name"], "inferred_type": f["inferred_type"],
                                 "completeness": present / rows}
        if "numerical_statistics" in f:
            entry["num_constraints"] = {"is_non_negative": f["numerical_statistics"]["min"] >= 0}
        elif f["inferred_type"] == STRING:
            buckets = stats["distribution"]["categorical"]["buckets"]
            if 0 < stats["distinct_count"] <= DOMAIN_MAX and len(buckets) == stats[
                    "distinct_count"] and sum(b["count"] for b in buckets) == present:
                entry["string_constraints"] = {"domains": sorted(b["value"] for b in buckets)}
        features.append(entry)
    return {"version": 0.0, "features": features, "monitoring_config": default_config()}


def default_config() -> dict[str, Any]:
    return {"evaluate_constraints": "Enabled", "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0, "domain_content_threshold": 1.0,
            "distribution_constraints": {"perform_comparison": "Enabled",
                                         "comparison_threshold": 0.1,
                                         "comparison_method": "Robust",
                                         "categorical_comparison_threshold": 0.1,
                                         "categorical_drift_method": "LInfinity"}}
