"""The engine's ``QualityCheck`` step type (``QualityCheckStep``, and the check half of
``MonitorBatchTransformStep``), with SageMaker's baseline lifecycle:

* every run calculates a new baseline from the step's dataset
  (``CalculatedBaselineStatistics`` / ``CalculatedBaselineConstraints``);
* unless ``SkipCheck``, the dataset is checked against the *previous* baseline: the
  supplied statistics and constraints, else the ``DriftCheckBaselines`` of the latest
  Approved version in ``ModelPackageGroupName``; violations fail the step (listing them)
  when ``FailOnViolation``;
* ``BaselineUsedForDriftCheck*`` is the new baseline when ``RegisterNewBaseline``, else the
  previous one (which must then exist, as on SageMaker).

Every file the step reports (baselines, the one used, the violation report and the HTML
report) is one immutable tree in the content-addressed store, so a ``ModelStep`` that
registers them, or a later run, reads exactly what this step saw. The check runs in the
engine process (it only reads files); the engine imports this module by name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackyard import artifacts
from stackyard._checks import check_name
from stackyard.engine.steps import StepType
from stackyard.errors import DefinitionError, NotFoundError, StepFailed, UsageError

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef
    from stackyard.engine.steps import Attempt

_SECTION = {"DATA_QUALITY": "ModelDataQuality", "MODEL_QUALITY": "ModelQuality"}
_PROPERTIES = ("CheckType", "CalculatedBaselineStatistics", "CalculatedBaselineConstraints",
               "BaselineUsedForDriftCheckStatistics", "BaselineUsedForDriftCheckConstraints",
               "ViolationReport", "Report", "ViolationCount", "SkipCheck",
               "RegisterNewBaseline", "ModelPackageGroupName", "DriftCheckBaselineSource")
_FLAGS = (("SkipCheck", "skip_check", False), ("FailOnViolation", "fail_on_violation", True),
          ("RegisterNewBaseline", "register_new_baseline", False))


def _is_expr(value: Any) -> bool:
    return isinstance(value, dict) and any(k == "Get" or k.startswith("Std:") for k in value)


def _flag(value: Any, what: str, default: bool) -> bool:
    """A boolean argument: a bool, or the text a ``ParameterString`` may carry."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise UsageError(f"{what} must be true or false, not {value!r}")


def _datasets(config: dict[str, Any]) -> list[str]:
    data = config.get("baseline_dataset")
    return [str(d) for d in data] if isinstance(data, list) else [str(data)]


class QualityCheckStepType(StepType):
    name = "QualityCheck"

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        """Literal values are checked now: the check type, the flags, the group name, the
        dataset format and problem type, and supplied baselines given in pairs."""
        from stackyard.monitor._formats import format_kind
        from stackyard.monitor._quality import check_problem_type

        args = step.arguments
        kind, config = args["CheckType"], args["QualityCheckConfig"]
        try:
            if kind not in _SECTION:
                raise UsageError(f"CheckType {kind!r}: use DATA_QUALITY or MODEL_QUALITY")
            if not config.get("baseline_dataset"):
                raise UsageError("the quality check config needs baseline_dataset")
            for key, what, default in _FLAGS:
                if not _is_expr(args.get(key)):
                    _flag(args.get(key), what, default)
            group = args.get("ModelPackageGroupName")
            if group is not None and not _is_expr(group):
                check_name(group, "model group")
            if not _is_expr(config.get("dataset_format")):
                format_kind(config.get("dataset_format"))
            if kind == "MODEL_QUALITY" and not _is_expr(config.get("problem_type")):
                check_problem_type(config.get("problem_type"))
            supplied = [args.get("SuppliedBaselineStatistics"),
                        args.get("SuppliedBaselineConstraints")]
            if (supplied[0] is None) != (supplied[1] is None):
                raise UsageError("supply both supplied_baseline_statistics and "
                                 "supplied_baseline_constraints, or neither")
        except UsageError as e:
            raise DefinitionError(f"step {step.name!r}: {e}") from None

    def property_error(self, step: StepDef, tokens: list[str | int]) -> str | None:
        if len(tokens) == 1 and tokens[0] in _PROPERTIES:
            return None
        return super().property_error(step, tokens)

    def cache_arguments(self, step: StepDef, resolved: Any, outputs: Any) -> Any:
        """The previous baseline a registry lookup would use is part of the key: a newly
        approved version must not be answered from the cache."""
        if resolved.get("SuppliedBaselineConstraints") or not resolved.get(
                "ModelPackageGroupName"):
            return resolved
        try:
            used = _registry_baseline(resolved["CheckType"], resolved["ModelPackageGroupName"])
        except StepFailed:
            used = None
        return {**resolved, "DriftCheckBaselineFrom": used and used[2]}

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        inputs = [("baseline_dataset", d) for d in _datasets(resolved["QualityCheckConfig"])]
        for key in ("SuppliedBaselineStatistics", "SuppliedBaselineConstraints"):
            if resolved.get(key):
                inputs.append((key, str(resolved[key])))
        return inputs

    def execute(self, attempt: Attempt, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return _run(attempt, args)
        except UsageError as e:
            raise StepFailed(str(e), "InputError") from e


def _registry_baseline(kind: str, group: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The drift check baseline of the latest Approved version in ``group``: its statistics
    and constraints as recorded (and hashed) when it was registered."""
    from stackyard.registry import ModelRegistry

    try:
        pkg = ModelRegistry().latest(group)
    except NotFoundError as e:
        raise StepFailed(f"no drift check baseline to check against: {e}; approve a version "
                         "registered with DriftCheckBaselines, pass supplied_baseline_"
                         "statistics/constraints, or set skip_check=True and "
                         "register_new_baseline=True", "InputError") from None
    section = pkg.record.get("drift_check_baselines", {}).get(_SECTION[kind]) or {}
    stats = (section.get("Statistics") or {}).get("content")
    cons = (section.get("Constraints") or {}).get("content")
    if not isinstance(stats, dict) or not isinstance(cons, dict):
        raise StepFailed(f"{pkg.ref} (the latest Approved version of {group}) has no "
                         f"{_SECTION[kind]} drift check baseline (statistics and constraints)",
                         "InputError")
    return stats, cons, pkg.ref


def _previous(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(statistics, constraints, where from) of the baseline the data is checked against."""
    from stackyard.monitor._violations import read_json

    stats, cons = args.get("SuppliedBaselineStatistics"), args.get("SuppliedBaselineConstraints")
    if stats or cons:
        if not (stats and cons):
            raise UsageError("supply both supplied_baseline_statistics and "
                             "supplied_baseline_constraints, or neither")
        return (read_json(stats, "supplied baseline statistics"),
                read_json(cons, "supplied baseline constraints"), "supplied")
    group = args.get("ModelPackageGroupName")
    if not group:
        raise UsageError("a check needs a previous baseline: pass supplied_baseline_statistics "
                         "and supplied_baseline_constraints, or model_package_group_name (its "
                         "latest Approved version's DriftCheckBaselines); or set "
                         "skip_check=True and register_new_baseline=True to only calculate one")
    return _registry_baseline(args["CheckType"], check_name(group, "model group"))


def _describe(v: dict[str, Any]) -> str:
    what = v.get("feature_name") or v.get("metric_name") or "?"
    return f"{what}: {v.get('constraint_check_type')}: {v.get('description', '')}".rstrip(": ")


def _run(a: Attempt, args: dict[str, Any]) -> dict[str, Any]:
    from stackyard.monitor._run import run_check, suggest_baseline

    kind, config = args["CheckType"], dict(args["QualityCheckConfig"])
    skip = _flag(args.get("SkipCheck"), "skip_check", False)
    fail = _flag(args.get("FailOnViolation"), "fail_on_violation", True)
    register_new = _flag(args.get("RegisterNewBaseline"), "register_new_baseline", False)
    destination = config.pop("output_s3_uri", None)
    previous = _previous(args) if not (skip and register_new) else None
    out = Path(a.job_dir)
    shutil.rmtree(out, ignore_errors=True)  # what a killed earlier try at this attempt left
    suggest_baseline(kind, config, output_dir=out / "baseline")
    found: list[dict[str, Any]] = []
    if not skip:
        assert previous is not None
        found = run_check(kind, config, previous[0], previous[1],
                          output_dir=out / "check")["violations_list"]
    if previous is not None:
        (out / "drift-check-baseline").mkdir()
        for name, doc in zip(("statistics.json", "constraints.json"), previous[:2],
                             strict=True):
            (out / "drift-check-baseline" / name).write_text(json.dumps(doc, indent=2))
    uri = artifacts.put_tree(out)
    if destination:
        artifacts.publish(uri, str(destination))
    used = "baseline" if register_new else "drift-check-baseline"
    props = {
        "CheckType": kind,
        "CalculatedBaselineStatistics": f"{uri}/baseline/statistics.json",
        "CalculatedBaselineConstraints": f"{uri}/baseline/constraints.json",
        "BaselineUsedForDriftCheckStatistics": f"{uri}/{used}/statistics.json",
        "BaselineUsedForDriftCheckConstraints": f"{uri}/{used}/constraints.json",
        "DriftCheckBaselineSource": previous[2] if previous else None,
        "ViolationReport": None if skip else f"{uri}/check/constraint_violations.json",
        "Report": f"{uri}/{'baseline' if skip else 'check'}/report.html",
        "ViolationCount": len(found), "SkipCheck": skip, "RegisterNewBaseline": register_new,
        "ModelPackageGroupName": args.get("ModelPackageGroupName"),
    }
    if found:  # event rules (`--on drift-detected`) react, whether or not the step fails
        a.store.add_event("drift.detected", {
            "run_id": a.run_id, "step": a.step.name, "check_type": kind,
            "violations": len(found), "baseline": previous and previous[2],
            "model_package_group": args.get("ModelPackageGroupName"),
            "features": sorted({str(v.get("feature_name") or v.get("metric_name"))
                                for v in found})})
    if found and fail:
        lines = "\n".join(f"  - {_describe(v)}" for v in found[:20])
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        raise StepFailed(
            f"ClientError: {kind.replace('_', ' ').lower()} check found {len(found)} "
            f"violation(s) against the {previous and previous[2]} baseline:\n{lines}{more}\n"
            f"violation report: {props['ViolationReport']}\nreport: {props['Report']}",
            "ClientError")
    return props
