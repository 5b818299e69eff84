"""The one library entry of a quality check, and the recorded runs built on it.

``run_check`` is pure files in, files out (what a pipeline step executor calls);
``record`` wraps it for the SDK and CLI: a durable row in the store, outputs stored
content-addressed and optionally published to a user destination.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from stackyard.errors import UsageError

DATA_QUALITY, MODEL_QUALITY = "DATA_QUALITY", "MODEL_QUALITY"
STATISTICS, CONSTRAINTS, VIOLATIONS, REPORT = ("statistics.json", "constraints.json",
                                               "constraint_violations.json", "report.html")
# stackyard's own addition to a check's outputs: each compared feature's drift distance next
# to its threshold (what the report draws), kept so a timeline across runs can be drawn.
DRIFT = "drift.json"


def _load(source: Any, what: str) -> dict[str, Any] | None:
    """A baseline document given as a dict, a path or a ``file://`` URI."""
    from stackyard.monitor._violations import read_json

    if source is None or isinstance(source, dict):
        return source
    return read_json(source, what)


def _named(chunks: Iterator[pa.Table], names: list[str]) -> Iterator[pa.Table]:
    """Capture columns (``_output``, ``_c0..``) given the baseline's names by position: all
    of them when the baseline has the label first, else the inputs only. A width that fits
    neither is left as it is, for the column checks to report."""
    from stackyard.monitor._capture import OUTPUT

    for t in chunks:
        inputs = [c for c in t.column_names if c != OUTPUT]
        if OUTPUT in t.column_names and len(names) == len(inputs) + 1:
            yield t.select([OUTPUT, *inputs]).rename_columns(names)
        elif len(names) == len(inputs):
            yield t.select(inputs).rename_columns(names)
        else:
            yield t


def run_check(kind: str, config: dict[str, Any], baseline_statistics: Any = None,
              baseline_constraints: Any = None, *, output_dir: str | Path,
              title: str | None = None) -> dict[str, Any]:
    """Profile (or score) ``config["baseline_dataset"]`` and write the results into
    ``output_dir`` (which must not exist or be empty; it is filled through a temp folder and
    renamed into place, so it is complete or absent). See the package docstring."""
    from stackyard.artifacts import building

    if kind not in (DATA_QUALITY, MODEL_QUALITY):
        raise UsageError(f"check kind {kind!r}: use {DATA_QUALITY} or {MODEL_QUALITY}")
    if not isinstance(config, dict) or not config.get("baseline_dataset"):
        raise UsageError("a quality check config needs baseline_dataset")
    stats = _load(baseline_statistics, "baseline statistics")
    cons = _load(baseline_constraints, "baseline constraints")
    if (stats is None) != (cons is None):
        raise UsageError("a check needs both the baseline statistics and the baseline "
                         "constraints (or neither, to compute a new baseline)")
    title = title or f"{'Data' if kind == DATA_QUALITY else 'Model'} quality " \
                     f"{'check' if stats else 'baseline'}: {config['baseline_dataset']}"
    if kind == DATA_QUALITY:
        docs, found, html = _data_quality(config, stats, cons, title)
    else:
        docs, found, html = _model_quality(config, stats, cons, title)
    output_dir = Path(output_dir)
    with building(output_dir) as tmp:
        for name, doc in docs.items():
            (tmp / name).write_text(json.dumps(doc, indent=2, allow_nan=False))
        (tmp / REPORT).write_text(html, encoding="utf-8")
    return {"statistics": str(output_dir / STATISTICS),
            "constraints": str(output_dir / CONSTRAINTS),
            "violations": str(output_dir / VIOLATIONS) if found is not None else None,
            "drift": str(output_dir / DRIFT) if DRIFT in docs else None,
            "violations_list": found or [], "report": str(output_dir / REPORT)}


def suggest_baseline(kind: str, config: dict[str, Any], *, output_dir: str | Path
                     ) -> dict[str, Any]:
    """``run_check`` with no baseline: statistics and suggested constraints of the data."""
    return run_check(kind, config, output_dir=output_dir)


def _data_quality(config: dict[str, Any], stats: dict[str, Any] | None,
                  cons: dict[str, Any] | None, title: str
                  ) -> tuple[dict[str, Any], list[dict[str, Any]] | None, str]:
    from stackyard.monitor import _report
    from stackyard.monitor._formats import format_kind, read_chunks
    from stackyard.monitor._profile import Profiler, suggest_constraints
    from stackyard.monitor._violations import check_constraints, check_statistics, compare

    checked = check_constraints(cons) if cons is not None else None
    if checked is not None:
        check_statistics(stats, checked)
    domains = {f["name"]: f["string_constraints"]["domains"]
               for f in (checked or {}).get("features", [])
               if (f.get("string_constraints") or {}).get("domains")}
    profiler = Profiler(domains)
    chunks = read_chunks(config["baseline_dataset"], config["dataset_format"])
    if checked is not None and format_kind(config["dataset_format"])[0] == "sagemakerCaptureJson":
        chunks = _named(chunks, [f["name"] for f in checked["features"]])
    for table in chunks:
        profiler.add(table)
    current = profiler.statistics()
    if checked is None:
        return ({STATISTICS: current, CONSTRAINTS: suggest_constraints(current)}, None,
                _report.data_quality(title, current, None, [], []))
    base_names = {f["name"] for f in checked["features"]}
    if not base_names & set(profiler.columns):
        raise UsageError(f"the baseline's columns {sorted(base_names)[:10]} and the data's "
                         f"{list(profiler.columns)[:10]} have nothing in common; check the "
                         "dataset's header (header=...) or the baseline")
    found, drift = compare(stats, checked, profiler, current)
    return ({STATISTICS: current, CONSTRAINTS: cons, VIOLATIONS: {"violations": found},
             DRIFT: {"features": drift}}, found,
            _report.data_quality(title, current, stats, found, drift))


def _model_quality(config: dict[str, Any], stats: dict[str, Any] | None,
                   cons: dict[str, Any] | None, title: str
                   ) -> tuple[dict[str, Any], list[dict[str, Any]] | None, str]:
    from stackyard._checks import check_number
    from stackyard.monitor import _quality as q
    from stackyard.monitor import _report

    problem = q.check_problem_type(config.get("problem_type"))
    section = q.check_constraints(cons, problem) if cons is not None else None
    threshold = float(check_number(config.get("probability_threshold_attribute") or 0.5,
                                   "probability_threshold_attribute", lo=0, hi=1))
    if config.get("ground_truth_input"):
        predicted, actual = q.joined(config["baseline_dataset"], config["ground_truth_input"])
        probability = None
        if problem == q.BINARY and not config.get("inference_attribute") and all(
                q._is_number(p) and 0 <= float(p) <= 1 for p in predicted):
            probability, predicted = predicted, None
    else:
        cols = q.dataset_columns(config["baseline_dataset"], config["dataset_format"], {
            "ground_truth_attribute": config.get("ground_truth_attribute"),
            "inference_attribute": config.get("inference_attribute"),
            "probability_attribute": config.get("probability_attribute")})
        if "ground_truth_attribute" not in cols:
            raise UsageError("model quality needs ground_truth_attribute (the label column)")
        actual = cols["ground_truth_attribute"]
        predicted = cols.get("inference_attribute")
        probability = cols.get("probability_attribute")
        if predicted is None and probability is None:
            raise UsageError("model quality needs inference_attribute or probability_attribute")
    values = q.metrics(problem, actual, predicted, probability, threshold)
    current = q.statistics(problem, values, len(actual))
    if section is None:
        return ({STATISTICS: current, CONSTRAINTS: q.suggest_constraints(problem, values)},
                None, _report.model_quality(title, len(actual), values, None, []))
    found = q.violations(section, values)
    return ({STATISTICS: current, CONSTRAINTS: cons, VIOLATIONS: {"violations": found}}, found,
            _report.model_quality(title, len(actual), values, section, found))


# ---- recorded runs -----------------------------------------------------------------------
def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{secrets.token_hex(3)}"


def record(kind: str, config: dict[str, Any], *, source: str, baseline_label: str | None,
           baseline_statistics: Any = None, baseline_constraints: Any = None,
           destination: str | None = None) -> dict[str, Any]:
    """``run_check`` as a durable monitoring run: a row before anything is read, outputs put
    in the content-addressed store (and published under ``destination`` if given), then
    the row finished as ``Completed``, ``CompletedWithViolations`` or ``Failed``."""
    from stackyard import artifacts
    from stackyard.runtime._job import process_start_time
    from stackyard.store import open_store

    store = open_store()
    run_id = new_run_id()
    job = "check" if baseline_constraints is not None else "baseline"
    store.add_monitoring_run(run_id, kind, job, source, baseline_label, os.getpid(),
                             process_start_time(os.getpid()))
    try:
        with tempfile.TemporaryDirectory(prefix="stackyard-monitor-") as tmp:
            result = run_check(kind, config, baseline_statistics, baseline_constraints,
                               output_dir=Path(tmp) / "out",
                               title=f"{kind.replace('_', ' ').title()} {job} {run_id}: "
                                     f"{source}")
            uri = artifacts.put_tree(Path(tmp) / "out")
        if destination:
            artifacts.publish(uri, destination)
    except BaseException as e:
        store.finish_monitoring_run(run_id, "Failed", failure_reason=f"{type(e).__name__}: {e}")
        raise
    root = artifacts.uri_to_path(uri)
    outputs = {k: str(root / Path(v).name) for k, v in result.items()
               if k != "violations_list" and v}
    found = result["violations_list"]
    status = "CompletedWithViolations" if found else "Completed"
    store.finish_monitoring_run(run_id, status, len(found) if job == "check" else None,
                                {**outputs, "uri": uri, "destination": destination})
    return {**store.get_monitoring_run(run_id), "violations_list": found}


def reap(store: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``InProgress`` rows whose process is gone (killed) are recorded ``Failed``."""
    from stackyard.runtime._job import alive

    for r in rows:
        if r["status"] == "InProgress" and not alive(r["pid"], r["pid_start"]):
            store.finish_monitoring_run(r["run_id"], "Failed", failure_reason=(
                "the monitoring process ended before finishing (killed?)"))
            r.update(store.get_monitoring_run(r["run_id"]))
    return rows


def list_monitoring_runs(endpoint: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Monitoring runs, newest first (a run whose process died reads ``Failed``)."""
    from stackyard.store import open_store

    store = open_store()
    return reap(store, store.list_monitoring_runs(f"endpoint:{endpoint}" if endpoint else None,
                                                  limit))


def describe_monitoring_run(run_id: str) -> dict[str, Any]:
    """One monitoring run's record; ``NotFoundError`` names the run."""
    from stackyard.errors import NotFoundError
    from stackyard.store import open_store

    store = open_store()
    r = store.get_monitoring_run(run_id)
    if r is None:
        raise NotFoundError(f"no monitoring run {run_id!r}; see `stackyard monitor list`")
    return reap(store, [r])[0]
