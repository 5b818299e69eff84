"""Validate a pipeline definition and compile it into the graph the runner walks.

Everything a user can get wrong in a definition is caught here, before any job runs and
before anything is written to the store: duplicate names, unknown steps, parameters or
outputs, cycles, and missing scripts. What is specific to a kind of step (its properties,
arguments and code, its branches) its ``StepType`` checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackyard._checks import check_name
from stackyard.engine._paths import referenced_step, split_path, walk_gets
from stackyard.engine.steps import STEP_TYPES, step_type
from stackyard.errors import DefinitionError, UsageError

EXECUTION_VARIABLES = {"StartDateTime", "CurrentDateTime", "PipelineName", "PipelineArn",
                       "PipelineExecutionId", "PipelineExecutionArn"}
T = TypeVar("T")


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


def _resolve_step_ref(get: str, steps: dict[str, StepDef]) -> tuple[str, list[str | int]]:
    rest = get[len("Steps."):]
    name = referenced_step(rest, steps)
    if name is None:
        raise DefinitionError(f"reference {get!r} names an unknown step "
                              f"(steps: {', '.join(sorted(steps))})")
    return name, split_path(rest[len(name):])


def compile_definition(d: dict[str, Any]) -> PipelineDef:
    """The checked, compiled form of a definition; anything wrong is a ``DefinitionError``
    (the shared name and path checks of ``_checks`` included)."""
    try:
        return _compile(d)
    except UsageError as e:
        if type(e) is not UsageError:
            raise
        raise DefinitionError(str(e)) from None


def _shaped(step: StepDef, check: Callable[[], T]) -> T:
    """Run a step type's check; a definition whose arguments lack what the type reads (a
    hand-written JSON file, say) is a ``DefinitionError`` naming the step, not a crash."""
    try:
        return check()
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        raise DefinitionError(f"step {step.name!r} ({step.type}): malformed Arguments "
                              f"({type(e).__name__}: {e})") from None


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
        if not isinstance(raw.get("Arguments", {}), dict):
            raise DefinitionError(f"step {sname!r}: Arguments must be a JSON object")
        steps[sname] = StepDef(sname, raw["Type"], raw.get("Arguments", {}), raw)
    if not steps:
        raise DefinitionError(f"pipeline {name!r} has no steps")

    par = d.get("ParallelismConfiguration", {}).get("MaxParallelExecutionSteps")
    pdef = PipelineDef(name, d, params, steps, set(), {}, par)
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
                t = steps[target]
                err = _shaped(t, lambda t=t, tokens=tokens: step_type(t.type).property_error(
                    t, tokens))
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
            pdef.handlers.add(s.on_failure)
        kind = step_type(s.type)
        _shaped(s, lambda s=s, kind=kind: kind.validate(s, pdef))
        for child, when in _shaped(s, lambda s=s, kind=kind: kind.branches(s)):
            steps[child].deps.add(s.name)
            pdef.branch_of.setdefault(child, []).append((s.name, when))
    for h in pdef.handlers:
        if h in pdef.branch_of:
            raise DefinitionError(f"step {h!r} is a failure handler and cannot be in a branch")
        users = sorted(n for n, s in steps.items() if h in s.deps)
        if users:
            raise DefinitionError(
                f"step(s) {', '.join(users)} depend on {h!r}, a failure handler that runs "
                "only when a step fails; depend on the guarded step instead")
    _check_acyclic(steps)
    return pdef


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
