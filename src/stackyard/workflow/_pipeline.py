"""``Pipeline``: a named set of steps compiled to a stable JSON definition."""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard import _home
from stackyard.errors import DefinitionError
from stackyard.workflow._expr import DelayedReturn
from stackyard.workflow._function import FunctionStep
from stackyard.workflow._parameters import Parameter, parameter_from_definition
from stackyard.workflow._policies import ParallelismConfiguration
from stackyard.workflow._steps import RawStep, Step, StepCollection

DEFINITION_VERSION = "2020-12-01"


def _collect(roots: list[Step]) -> list[Step]:
    """Every step reachable from the listed ones, listed ones first, each object once."""
    seen: dict[int, Step] = {}
    stack = list(reversed(roots))
    order: list[Step] = []
    while stack:
        s = stack.pop()
        if id(s) in seen:
            continue
        seen[id(s)] = s
        order.append(s)
        stack.extend(reversed([x for x in s.linked_steps() if isinstance(x, Step)]))
    return order


class Pipeline:
    def __init__(
        self,
        name: str,
        parameters: list[Parameter] | None = None,
        steps: list[Any] | None = None,
        sagemaker_session: Any = None,
        parallelism_config: ParallelismConfiguration | None = None,
        pipeline_experiment_config: Any = None,
        pipeline_definition_config: Any = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise DefinitionError("a pipeline needs a non-empty name")
        self.name = name
        self.parameters = list(parameters or [])
        self.steps = [s.step if isinstance(s, DelayedReturn) else s for s in steps or []]
        self.steps = [x for s in self.steps
                      for x in (s.steps if isinstance(s, StepCollection) else [s])]
        for s in self.steps:
            if not isinstance(s, Step):
                raise DefinitionError(f"pipeline {name!r}: {s!r} is not a step")
        self.parallelism_config = parallelism_config

    # ---- compile -----------------------------------------------------------------
    def all_steps(self) -> list[Step]:
        steps = _collect(self.steps)
        # @step functions called more than once share a default name: number them (name,
        # name-2, name-3, ...). Each base name remembers its next number, so naming is
        # linear in the number of steps rather than quadratic in the calls of one function.
        taken = {s.name for s in steps if not (isinstance(s, FunctionStep)
                                               and not s.explicit_name)}
        next_n: dict[str, int] = {}
        for s in steps:
            if isinstance(s, FunctionStep) and not s.explicit_name:
                base = s.func.__name__
                n = next_n.get(base, 1)
                name = base if n == 1 else f"{base}-{n}"
                while name in taken:
                    n += 1
                    name = f"{base}-{n}"
                next_n[base] = n + 1
                s.name = name
                taken.add(name)
        return steps

    def definition_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "Version": DEFINITION_VERSION,
            "Metadata": {},
            "Name": self.name,
            "Parameters": [p.to_definition() for p in self.parameters],
            "Steps": [s.to_definition() for s in self.all_steps()],
        }
        if self.parallelism_config is not None:
            d["ParallelismConfiguration"] = {
                "MaxParallelExecutionSteps":
                    self.parallelism_config.max_parallel_execution_steps}
        return d

    def definition(self) -> str:
        """Stable JSON: the same pipeline always compiles to the same bytes."""
        return json.dumps(self.definition_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_definition(cls, definition: str | dict[str, Any]) -> Pipeline:
        d = json.loads(definition) if isinstance(definition, str) else definition
        p = cls(
            name=d["Name"],
            parameters=[parameter_from_definition(x) for x in d.get("Parameters", [])],
            steps=[RawStep(s) for s in d.get("Steps", [])],
        )
        if "ParallelismConfiguration" in d:
            p.parallelism_config = ParallelismConfiguration(
                d["ParallelismConfiguration"]["MaxParallelExecutionSteps"])
        return p

    def functions(self) -> dict[str, Any]:
        """Live function objects of ``@step`` steps, so this process need not re-import."""
        return {s.name: s.func for s in self.all_steps() if isinstance(s, FunctionStep)}

    # ---- store -------------------------------------------------------------------
    def upsert(self, role_arn: str | None = None, description: str | None = None,
               tags: list[dict[str, str]] | None = None,
               parallelism_config: ParallelismConfiguration | None = None) -> dict[str, Any]:
        """Record this definition as the pipeline's newest version (``role_arn`` and
        ``tags`` only matter on AWS); ``parallelism_config`` becomes the default."""
        from stackyard.engine import register_pipeline

        if parallelism_config is not None:
            self.parallelism_config = parallelism_config
        version = register_pipeline(self.definition_dict())
        return {"PipelineArn": f"stackyard:pipeline/{self.name}", "PipelineVersion": version}

    create = upsert
    update = upsert

    def start(
        self,
        parameters: dict[str, Any] | None = None,
        execution_display_name: str | None = None,
        execution_description: str | None = None,
        parallelism_config: ParallelismConfiguration | None = None,
        *,
        backend: str | None = None,
        address: str | None = None,
        resources: dict[str, dict[str, float]] | None = None,
    ) -> PipelineExecution:
        """Validate, record and start a run in a background thread of this process.
        (The display name and description are SageMaker console labels, not kept.)

        ``backend="ray"`` runs this process's processing, training and tuning jobs on the
        Ray cluster at ``address`` (default ``STACKYARD_RAY_ADDRESS``, else ``auto``) with
        ``resources`` per instance type overriding the table; checked before the run is
        recorded. Without it, ``STACKYARD_BACKEND`` decides (default ``local``)."""
        from stackyard.engine import start_run
        from stackyard.runtime import use_backend

        if backend or address or resources or _home.backend_settings()["backend"]:
            use_backend(backend, address, resources)
        handle = start_run(self.definition_dict(), parameters, functions=self.functions(),
                           background=True, max_parallel=parallelism_config.
                           max_parallel_execution_steps if parallelism_config else None)
        return PipelineExecution(handle.run_id, handle)

    def describe(self) -> dict[str, Any]:
        from stackyard.engine import describe_pipeline

        return describe_pipeline(self.name)

    def list_executions(self) -> list[dict[str, Any]]:
        from stackyard.engine import list_runs

        return list_runs(self.name)


class PipelineExecution:
    """A run of a pipeline; the same object whether just started or attached by id."""

    def __init__(self, run_id: str, handle: Any = None) -> None:
        self.run_id = run_id
        self.arn = f"stackyard:execution/{run_id}"
        self._handle = handle

    def wait(self, delay: float = 0.05, max_attempts: int | None = None,
             timeout: float | None = None) -> str:
        """Block until the run ends (or ``timeout`` seconds pass); returns its status."""
        from stackyard.engine import describe_run

        deadline = None if timeout is None else time.monotonic() + timeout
        if self._handle is not None:
            self._handle.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        attempts = 0
        while True:
            status = describe_run(self.run_id)["status"]
            if status in ("Succeeded", "Failed", "Stopped"):
                return status
            attempts += 1
            if (max_attempts and attempts >= max_attempts) or (
                    deadline is not None and time.monotonic() >= deadline):
                raise TimeoutError(f"run {self.run_id} still {status}")
            time.sleep(delay)

    def describe(self) -> dict[str, Any]:
        from stackyard.engine import describe_run

        r = describe_run(self.run_id)
        return {"PipelineExecutionArn": self.arn, "PipelineExecutionStatus": r["status"],
                "FailureReason": r["failure_reason"], "PipelineName": r["pipeline"],
                "CreationTime": r["start_time"], "LastModifiedTime": r["end_time"],
                "Parameters": r["parameters"], **r}

    def list_steps(self) -> list[dict[str, Any]]:
        """Steps, most recent first (as SageMaker lists them)."""
        from stackyard.engine import describe_run

        out = []
        for s in reversed(describe_run(self.run_id)["steps"]):
            out.append({"StepName": s["name"], "StepStatus": s["status"],
                        "StartTime": s["start_time"], "EndTime": s["end_time"],
                        "AttemptCount": s["attempts"], "FailureReason": s["failure_reason"],
                        "CacheHitResult": {"SourcePipelineExecutionArn":
                                           f"stackyard:execution/{s['cache_source']}"}
                        if s["cache_hit"] else None,
                        "Metadata": s["outputs"]})
        return out

    def result(self, step_name: str) -> Any:
        """The return value of a ``@step`` step."""
        from stackyard.engine import step_result

        return step_result(self.run_id, step_name)

    def stop(self) -> None:
        from stackyard.engine import stop_run

        stop_run(self.run_id)
