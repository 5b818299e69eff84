"""Data-quality baselines and checks: statistics against numpy/pandas, each of the six
checks firing and staying quiet, the Robust allowance, bad input, the HTML report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stackyard.errors import UsageError
from stackyard.monitor import (
    DATA_QUALITY,
    DatasetFormat,
    MonitoringDatasetFormat,
    _formats,
    run_check,
)
from stackyard.monitor._violations import robust_allowance

N = 4000


def frame(seed: int = 0, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"income": rng.lognormal(3, 1, n), "age": rng.integers(18, 90, n),
                         "plan": rng.choice(["basic", "plus", "pro"], n, p=[.5, .3, .2])})


def csv(tmp: Path, df: pd.DataFrame, name: str) -> str:
    folder = tmp / "My data ü"  # a space and non-ASCII in the path
    folder.mkdir(exist_ok=True)
    df.to_csv(folder / name, index=False)
    return str(folder / name)


def baseline(tmp: Path, df: pd.DataFrame | None = None) -> dict:
    src = csv(tmp, frame() if df is None else df, "base.csv")
    return run_check(DATA_QUALITY, {"baseline_dataset": src,
                                    "dataset_format": DatasetFormat.csv(header=True)},
                     output_dir=tmp / "baseline")


def check(tmp: Path, base: dict, df: pd.DataFrame, constraints: object = None,
          name: str = "cur") -> list[dict]:
    src = csv(tmp, df, f"{name}.csv")
    r = run_check(DATA_QUALITY, {"baseline_dataset": src, "dataset_format": DatasetFormat.csv()},
                  base["statistics"], constraints or base["constraints"],
                  output_dir=tmp / name)
    on_disk = json.loads(Path(r["violations"]).read_text())["violations"]
    assert on_disk == r["violations_list"]
    return r["violations_list"]


def kinds(violations: list[dict]) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in violations}


def test_statistics_match_numpy_across_chunks(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_formats, "BLOCK_BYTES", 16 << 10)  # many chunks: merges are exercised
    df = frame(n=20_000)
    r = baseline(tmp_path, df)
    stats = {f["name"]: f for f in json.loads(Path(r["statistics"]).read_text())["features"]}
    assert stats["income"]["inferred_type"] == "Fractional"
    assert stats["age"]["inferred_type"] == "Integral"
    assert stats["plan"]["inferred_type"] == "String"
    for col in ("income", "age"):
        s = stats[col]["numerical_statistics"]
        x = df[col].to_numpy(dtype=float)
        assert s["common"] == {"num_present": len(x), "num_missing": 0}
        assert s["mean"] == pytest.approx(x.mean(), rel=1e-9)
        assert s["sum"] == pytest.approx(x.sum(), rel=1e-9)
        assert s["std_dev"] == pytest.approx(x.std(ddof=0), rel=1e-9)  # population, as Deequ
        assert (s["min"], s["max"]) == (x.min(), x.max())
        # quantiles from the sketch: rank error well under 1% at k=2048
        levels = s["distribution"]["kll"]["sketch"]["data"]
        items = np.concatenate([np.asarray(lv) for lv in levels])
        weights = np.concatenate([np.full(len(lv), 2.0 ** i) for i, lv in enumerate(levels)])
        assert weights.sum() == len(x)
        order = np.argsort(items)
        cum = np.cumsum(weights[order]) / weights.sum()
        for q in (0.1, 0.5, 0.9):
            est = items[order][np.searchsorted(cum, q)]
            assert abs((x <= est).mean() - q) < 0.01
        assert sum(b["count"] for b in s["distribution"]["kll"]["buckets"]) == pytest.approx(
            len(x), abs=10)
    plan = stats["plan"]["string_statistics"]
    assert plan["distinct_count"] == 3
    buckets = {b["value"]: b["count"] for b in plan["distribution"]["categorical"]["buckets"]}
    assert buckets == df["plan"].value_counts().to_dict()
    cons = json.loads(Path(r["constraints"]).read_text())
    by_name = {f["name"]: f for f in cons["features"]}
    assert by_name["plan"]["string_constraints"]["domains"] == ["basic", "plus", "pro"]
    assert by_name["age"]["num_constraints"]["is_non_negative"] is True
    dist = cons["monitoring_config"]["distribution_constraints"]
    assert (dist["comparison_threshold"], dist["comparison_method"]) == (0.1, "Robust")


def test_same_distribution_has_no_violations(tmp_path: Path) -> None:
    assert check(tmp_path, baseline(tmp_path), frame(seed=1)) == []


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.assign(age=d["age"].astype(str).where(d.index % 10 != 0, "old")),
     ("age", "data_type_check")),
    (lambda d: d.assign(income=d["income"].where(d.index % 5 != 0)),
     ("income", "completeness_check")),
    (lambda d: d.assign(income=d["income"] * 3), ("income", "baseline_drift_check")),
    (lambda d: d.drop(columns=["age"]), ("age", "missing_column_check")),
    (lambda d: d.assign(extra=1), ("extra", "extra_column_check")),
    (lambda d: d.assign(plan=d["plan"].where(d.index % 50 != 0, "gold")),
     ("plan", "categorical_values_check")),
])
def test_each_check_fires(tmp_path: Path, change, expected: tuple[str, str]) -> None:
    found = check(tmp_path, baseline(tmp_path), change(frame(seed=1)))
    assert expected in kinds(found)
    v = next(v for v in found if (v["feature_name"], v["constraint_check_type"]) == expected)
    assert v["feature_name"] in v["description"] or any(c.isdigit() for c in v["description"])


def test_drift_of_categories_is_caught(tmp_path: Path) -> None:
    df = frame(seed=1)
    df["plan"] = np.where(np.arange(N) % 2 == 0, "pro", df["plan"])
    assert ("plan", "baseline_drift_check") in kinds(check(tmp_path, baseline(tmp_path), df))


def test_robust_allowance_formula() -> None:
    # by hand: 1.8 * sqrt((100 + 400) / (100 * 400)) = 1.8 * sqrt(0.0125) = 0.20125
    assert robust_allowance(100, 400) == pytest.approx(0.2012461, abs=1e-6)
    assert robust_allowance(0, 10) == math.inf


def test_robust_spares_small_samples_simple_does_not(tmp_path: Path) -> None:
    """30 rows shifted by 0.3 sigma: a real but small-sample distance that Simple calls
    drift and Robust (allowance ~0.33) does not; the old 'comparion_method' spelling is
    read as comparison_method."""
    rng = np.random.default_rng(3)
    base = baseline(tmp_path, pd.DataFrame({"x": rng.normal(0, 1, 30)}))
    shifted = pd.DataFrame({"x": rng.normal(0.6, 1, 30)})
    cons = json.loads(Path(base["constraints"]).read_text())
    assert check(tmp_path, base, shifted, name="robust") == []
    dist = cons["monitoring_config"]["distribution_constraints"]
    del dist["comparison_method"]
    dist["comparion_method"] = "Simple"
    old = tmp_path / "old-constraints.json"
    old.write_text(json.dumps(cons))
    found = check(tmp_path, base, shifted, constraints=str(old), name="simple")
    assert kinds(found) == {("x", "baseline_drift_check")}
    assert "Robust" not in found[0]["description"]


def test_formats_json_lines_and_parquet_agree(tmp_path: Path) -> None:
    df = frame(n=500)
    df.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    pq.write_table(pa.Table.from_pandas(df), tmp_path / "d.parquet")
    outs = []
    for name, fmt in (("d.jsonl", MonitoringDatasetFormat.json(lines=True)),
                      ("d.parquet", MonitoringDatasetFormat.parquet())):
        r = run_check(DATA_QUALITY, {"baseline_dataset": str(tmp_path / name),
                                     "dataset_format": fmt}, output_dir=tmp_path / name[2:])
        outs.append({f["name"]: (f["inferred_type"], (f.get("numerical_statistics") or {}).get(
            "mean")) for f in json.loads(Path(r["statistics"]).read_text())["features"]})
    assert outs[0].keys() == outs[1].keys()
    for name, (kind, mean) in outs[0].items():  # JSON text rounds the last digit
        assert outs[1][name] == (kind, pytest.approx(mean, rel=1e-12) if mean else mean)
    assert outs[0]["age"] == ("Integral", pytest.approx(df["age"].mean()))


# ---- bad input ---------------------------------------------------------------------------
def test_empty_and_headerless_datasets_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "noheader.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "onlyheader.csv").write_text("a,b\n")
    (tmp_path / "latin1.csv").write_bytes("a,b\ncafé,1\n".encode("latin-1"))
    for name, words in (("empty.csv", "empty"), ("noheader.csv", "header=True"),
                        ("onlyheader.csv", "no rows"),
                        ("latin1.csv", "latin1.csv: not valid CSV.*UTF8")):
        with pytest.raises(UsageError, match=words):
            run_check(DATA_QUALITY, {"baseline_dataset": str(tmp_path / name),
                                     "dataset_format": DatasetFormat.csv(header=True)},
                      output_dir=tmp_path / "out")
        assert not (tmp_path / "out").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_constraints_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    cur = csv(tmp_path, frame(seed=1), "cur.csv")
    cons = json.loads(Path(base["constraints"]).read_text())
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({**cons, "features": [
        {**cons["features"][0], "num_constraints": {"is_positive_definite": True}}]}))
    fewer = tmp_path / "fewer.json"
    fewer.write_text(json.dumps({**cons, "features": cons["features"][:1]}))
    method = tmp_path / "method.json"
    cons["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Fancy"
    method.write_text(json.dumps(cons))
    switch = tmp_path / "switch.json"
    cons["monitoring_config"]["distribution_constraints"].update(
        comparison_method="Robust", perform_comparison="Maybe")
    switch.write_text(json.dumps(cons))
    for path, words in ((bad_json, "not valid JSON"), (unknown, "is_positive_definite"),
                        (fewer, "different columns"), (method, "Fancy"),
                        (switch, "perform_comparison 'Maybe'; use Enabled or Disabled")):
        with pytest.raises(UsageError, match=words):
            run_check(DATA_QUALITY, {"baseline_dataset": cur,
                                     "dataset_format": DatasetFormat.csv()},
                      base["statistics"], str(path), output_dir=tmp_path / "out")
        assert not (tmp_path / "out").exists()


def test_data_sharing_no_column_with_the_baseline_is_refused(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    src = csv(tmp_path, pd.DataFrame({"x": [1, 2], "y": [3, 4]}), "other.csv")
    with pytest.raises(UsageError, match="nothing in common"):
        run_check(DATA_QUALITY, {"baseline_dataset": src, "dataset_format": DatasetFormat.csv()},
                  base["statistics"], base["constraints"], output_dir=tmp_path / "out")


def test_report_is_self_contained_with_violations_first(tmp_path: Path) -> None:
    base = baseline(tmp_path)
    df = frame(seed=1).assign(income=lambda d: d["income"] * 3)
    df.loc[0, "plan"] = "<script>alert(1)</script>"
    src = csv(tmp_path, df, "cur.csv")
    r = run_check(DATA_QUALITY, {"baseline_dataset": src, "dataset_format": DatasetFormat.csv()},
                  base["statistics"], base["constraints"], output_dir=tmp_path / "out")
    html = Path(r["report"]).read_text()
    assert "http" not in html.lower() and "<script" not in html and "<link" not in html
    assert "<svg" in html and "&lt;script&gt;" in html
    assert html.index("Violations") < html.index("Drift") < html.index("Features")
    assert "baseline_drift_check" in html
