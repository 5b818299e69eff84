"""Validate a pipeline definition and compile it into the graph the runner walks.

Everything a user can get wrong in a definition is caught here, before any job runs and
before anything is written to the store: duplicate names, unknown steps, parameters or
outputs, cycles, and missing scripts.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackyard._checks import check_name, container_path, inside, uri_to_path
from stackyard.errors import DefinitionError, UsageError
from stackyard.runtime import compile_metrics

STEP_TYPES = {"Processing", "Training", "Tuning", "RegisterModel", "Condition", "Fail",
              "Function"}
EXECUTION_VARIABLES = {"StartDateTime", "CurrentDateTime", "PipelineName", "PipelineArn",
                       "PipelineExecutionId", "PipelineExecutionArn"}


@dataclass
class StepDef:
    name: str
    type: str
    arguments: Any
    raw: dict[str, Any]
    deps: set[str] = field(default_factory=set)

    @property
    def retry_policies(self) -> list[dict[str, Any]]:
        return self.raw.get("RetryPolicies", [])

    @property
    def cache(self) -> dict[str, Any] | None:
        c = self.raw.get("CacheConfig")
        return c if c and c.get("Enabled") else None

    @property
    def on_failure(self) -> str | None:
        return self.raw.get("OnFailure")


@dataclass
class PipelineDef:
    name: str
    definition: dict[str, Any]
    parameters: list[dict[str, Any]]
    steps: dict[str, StepDef]
    handlers: set[str]                  # run only when a step they guard fails
    branch_of: dict[str, list[tuple[str, bool]]]  # step -> [(condition, branch taken when)]
    max_parallel: int | None


def walk_gets(value: Any) -> list[str]:
    """Every ``{"Get": path}`` inside a JSON value (JsonGet's property-file Gets included)."""
    out: list[str] = []
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            return [value["Get"]]
        for v in value.values():
            out.extend(walk_gets(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(walk_gets(v))
    return out


_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_:]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise DefinitionError(f"cannot parse property path {path!r} at {path[pos:]!r}")
        if m.group(1) is not None:
            tokens.append(m.group(1))
        elif m.group(2) is not None:
            tokens.append(m.group(2))
        else:
            tokens.append(int(m.group(3)))
        pos = m.end()
    return tokens


def _property_error(step: StepDef, tokens: list[str | int]) -> str | None:
    """None if ``tokens`` name something this step reports when done, else why not."""
    args = step.arguments if isinstance(step.arguments, dict) else {}
    head = tokens[0] if tokens else None
    if step.type == "Processing":
        outputs = {o["OutputName"] for o in args.get("ProcessingOutputConfig", {})
                   .get("Outputs", [])}
        if head in ("ProcessingJobName", "ProcessingJobStatus", "ProcessingJobArn"):
            return None
        if head == "ProcessingOutputConfig" and len(tokens) >= 3 and tokens[1] == "Outputs":
            if tokens[2] not in outputs:
                return (f"step {step.name!r} has no output {tokens[2]!r} "
                        f"(outputs: {', '.join(sorted(outputs)) or 'none'})")
            if tokens[3:] in (["S3Output", "S3Uri"], ["OutputName"]):
                return None
        if head == "PropertyFiles" and len(tokens) == 2:
            names = {p["PropertyFileName"] for p in step.raw.get("PropertyFiles", [])}
            return None if tokens[1] in names else (
                f"step {step.name!r} has no property file {tokens[1]!r}")
    elif step.type == "Training":
        metrics = {m["Name"] for m in args.get("AlgorithmSpecification", {})
                   .get("MetricDefinitions", [])}
        if head in ("TrainingJobName", "TrainingJobStatus", "TrainingJobArn"):
            return None
        if tokens == ["ModelArtifacts", "S3ModelArtifacts"]:
            return None
        if tokens == ["OutputDataConfig", "S3OutputPath"]:
            return None
        if head == "HyperParameters" and len(tokens) == 2:
            return None
        if head == "FinalMetricDataList" and len(tokens) == 3 and tokens[2] == "Value":
            return None if tokens[1] in metrics else (
                f"step {step.name!r} defines no metric {tokens[1]!r} "
                f"(metric_definitions: {', '.join(sorted(metrics)) or 'none'})")
    elif step.type == "Tuning":
        if head in ("HyperParameterTuningJobName", "HyperParameterTuningJobStatus",
                    "TrainingJobStatusCounters", "BestTrainingJob"):
            return None
        if head == "TopModelArtifacts" and len(tokens) == 2 and isinstance(tokens[1], int):
            budget = args.get("HyperParameterTuningJobConfig", {}).get(
                "ResourceLimits", {}).get("MaxNumberOfTrainingJobs", 0)
            return None if tokens[1] < budget else (
                f"step {step.name!r} runs at most {budget} training jobs; "
                f"there is no top model {tokens[1]}")
    elif step.type == "RegisterModel":
        if len(tokens) == 1 and head in ("ModelPackageArn", "ModelPackageGroupName",
                                         "ModelPackageVersion", "ModelPackageRef",
                                         "ModelApprovalStatus"):
            return None
    elif step.type == "Function":
        if head == "Result":
            return None
    elif step.type == "Condition" and tokens == ["Outcome"]:
        return None
    return f"step {step.name!r} ({step.type}) has no property {'.'.join(map(str, tokens))!r}"


def referenced_step(rest: str, names: Collection[str]) -> str | None:
    """The step a reference names, given the reference without its ``Steps.`` prefix.

    Step names may contain dots, so this is the longest name followed by ``.``, ``[`` or
    the end; found by trying each such prefix once (linear in the path, not in the number
    of steps, so compiling and resolving stay linear as pipelines grow).
    """
    found = rest if rest in names else None
    if found is None:
        for i in range(len(rest) - 1, 0, -1):
            if rest[i] in ".[" and rest[:i] in names:
                return rest[:i]
    return found


def _resolve_step_ref(get: str, steps: dict[str, StepDef]) -> tuple[str, list[str | int]]:
    rest = get[len("Steps."):]
    name = referenced_step(rest, steps)
    if name is None:
        raise DefinitionError(f"reference {get!r} names an unknown step "
                              f"(steps: {', '.join(sorted(steps))})")
    return name, split_path(rest[len(name):])


def _check_code(step: StepDef) -> None:
    """The job's code exists, and every name or container path it brings stays inside the
    folder it lands in (a definition may come from JSON, not only from the SDK)."""
    args = step.arguments
    if step.type == "Processing":
        for inp in args.get("ProcessingInputs", []):
            container_path(inp["S3Input"]["LocalPath"], "/opt/ml/processing")
            if inp.get("InputName") == "code":
                path = uri_to_path(inp["S3Input"]["S3Uri"])
                if not path.is_file():
                    raise DefinitionError(f"step {step.name!r}: script {path} does not exist")
        for out in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
            container_path(out["S3Output"]["LocalPath"], "/opt/ml/processing")
    elif step.type in ("Training", "Tuning"):
        req = args.get("TrainingJobDefinition", args) if step.type == "Tuning" else args
        try:
            compile_metrics(req.get("AlgorithmSpecification", {}).get("MetricDefinitions", []))
        except DefinitionError as e:
            raise DefinitionError(f"step {step.name!r}: {e}") from None
        for channel in req.get("InputDataConfig", []):
            check_name(channel.get("ChannelName"), "channel")
        code = req.get("Code", {})
        if code.get("SourceDir"):
            entry = inside(code["SourceDir"], code.get("EntryPoint", ""), "entry point")
        else:
            entry = Path(code.get("EntryPointPath") or code.get("EntryPoint", ""))
        if not entry.is_file():
            raise DefinitionError(f"step {step.name!r}: entry point {entry} does not exist")
    elif step.type == "Function":
        f = args.get("Function", {})
        if f.get("File") and not Path(f["File"]).is_file():
            raise DefinitionError(f"step {step.name!r}: function file {f['File']} is missing")


def compile_definition(d: dict[str, Any]) -> PipelineDef:
    """The checked, compiled form of a definition; anything wrong is a ``DefinitionError``
    (the shared name and path checks of ``_checks`` included)."""
    try:
        return _compile(d)
    except UsageError as e:
        if type(e) is not UsageError:
            raise
        raise DefinitionError(str(e)) from None


def _compile(d: dict[str, Any]) -> PipelineDef:
    name = check_name(d.get("Name"), "pipeline")
    params = d.get("Parameters", [])
    pnames = [p["Name"] for p in params]
    dup = {n for n in pnames if pnames.count(n) > 1}
    if dup:
        raise DefinitionError(f"duplicate parameter name(s): {', '.join(sorted(dup))}")

    steps: dict[str, StepDef] = {}
    for raw in d.get("Steps", []):
        sname = raw.get("Name")
        if sname in steps:
            raise DefinitionError(f"duplicate step name {sname!r}")
        check_name(sname, "step")
        if raw.get("Type") not in STEP_TYPES:
            raise DefinitionError(f"step {sname!r} has unknown type {raw.get('Type')!r}")
        steps[sname] = StepDef(sname, raw["Type"], raw.get("Arguments", {}), raw)
    if not steps:
        raise DefinitionError(f"pipeline {name!r} has no steps")

    handlers: set[str] = set()
    branch_of: dict[str, list[tuple[str, bool]]] = {}
    for s in steps.values():
        for get in walk_gets(s.arguments):
            if get.startswith("Parameters."):
                if get[len("Parameters."):] not in pnames:
                    raise DefinitionError(f"step {s.name!r} uses unknown parameter {get!r}")
            elif get.startswith("Execution."):
                if get[len("Execution."):] not in EXECUTION_VARIABLES:
                    raise DefinitionError(f"step {s.name!r} uses unknown variable {get!r}")
            elif get.startswith("Steps."):
                target, tokens = _resolve_step_ref(get, steps)
                if target == s.name:
                    raise DefinitionError(f"step {s.name!r} refers to its own properties")
                err = _property_error(steps[target], tokens)
                if err:
                    raise DefinitionError(f"step {s.name!r}: {err}")
                s.deps.add(target)
            else:
                raise DefinitionError(f"step {s.name!r}: cannot resolve {get!r}")
        for dep in s.raw.get("DependsOn", []):
            if dep not in steps:
                raise DefinitionError(f"step {s.name!r} depends on unknown step {dep!r}")
            s.deps.add(dep)
        if s.on_failure is not None:
            if s.on_failure not in steps:
                raise DefinitionError(f"step {s.name!r}: on_failure names unknown step "
                                      f"{s.on_failure!r}")
            handlers.add(s.on_failure)
        if s.type == "Condition":
            for key, when in (("IfSteps", True), ("ElseSteps", False)):
                for child in s.arguments.get(key, []):
                    if child not in steps:
                        raise DefinitionError(f"condition {s.name!r} lists unknown step "
                                              f"{child!r}")
                    steps[child].deps.add(s.name)
                    branch_of.setdefault(child, []).append((s.name, when))
        _check_code(s)
        if s.type == "Processing":
            outs = {o["OutputName"] for o in s.arguments.get("ProcessingOutputConfig", {})
                    .get("Outputs", [])}
            for pf in s.raw.get("PropertyFiles", []):
                if pf["OutputName"] not in outs:
                    raise DefinitionError(
                        f"step {s.name!r}: property file {pf['PropertyFileName']!r} names "
                        f"output {pf['OutputName']!r}, which the step does not have "
                        f"(outputs: {', '.join(sorted(outs)) or 'none'})")
    for h in handlers:
        if h in branch_of:
            raise DefinitionError(f"step {h!r} is a failure handler and cannot be in a branch")
        users = sorted(n for n, s in steps.items() if h in s.deps)
        if users:
            raise DefinitionError(
                f"step(s) {', '.join(users)} depend on {h!r}, a failure handler that runs "
                "only when a step fails; depend on the guarded step instead")
    _check_acyclic(steps)
    par = d.get("ParallelismConfiguration", {}).get("MaxParallelExecutionSteps")
    return PipelineDef(name, d, params, steps, handlers, branch_of, par)


def _check_acyclic(steps: dict[str, StepDef]) -> None:
    indeg = {n: len(s.deps) for n, s in steps.items()}
    users: dict[str, list[str]] = {n: [] for n in steps}
    for n, s in steps.items():
        for dep in s.deps:
            users[dep].append(n)
    ready = [n for n, k in indeg.items() if k == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for u in users[n]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    if seen < len(steps):
        cyclic = sorted(n for n, k in indeg.items() if k > 0)
        raise DefinitionError(f"the steps form a cycle: {', '.join(cyclic)}")
