"""Pipeline variables: values that are only known when a run executes.

Each one compiles to a small JSON expression in the definition (``{"Get": "Steps.x.…"}``,
``{"Std:Join": …}``, ``{"Std:JsonGet": …}``), the same shapes the SageMaker pipeline
definition uses, so the engine needs nothing but the JSON to resolve them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackyard.workflow._steps import Step


class PipelineVariable:
    """Base of everything that resolves at run time. ``str()`` of one is a mistake."""

    @property
    def expr(self) -> Any:
        raise NotImplementedError

    def step_refs(self) -> list[Step]:
        """Steps this value reads from (the engine turns them into DAG edges)."""
        return []

    def __str__(self) -> str:
        raise TypeError(
            f"{type(self).__name__} is resolved when the pipeline runs and has no string value "
            "now; pass it to a step argument or use Join(on=..., values=[...])"
        )

    def to_string(self) -> Join:
        return Join(on="", values=[self])


def to_json(value: Any) -> Any:
    """Replace pipeline variables (recursively) by their JSON expressions."""
    if isinstance(value, PipelineVariable):
        return value.expr
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def collect_refs(value: Any) -> list[Step]:
    if isinstance(value, PipelineVariable):
        return value.step_refs()
    if isinstance(value, dict):
        return [s for v in value.values() for s in collect_refs(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in collect_refs(v)]
    return []


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Properties(PipelineVariable):
    """``step.properties.A.B["k"].C``: a path into what the step will report when done."""

    def __init__(self, step: Step, path: str = "") -> None:
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Properties:
        if name.startswith("__"):
            raise AttributeError(name)
        return Properties(self._step, f"{self._path}.{name}" if self._path else name)

    def __getitem__(self, key: str | int) -> Properties:
        token = f"[{key}]" if isinstance(key, int) else f"['{key}']"
        return Properties(self._step, self._path + token)

    @property
    def expr(self) -> dict:
        return {"Get": f"Steps.{self._step.name}.{self._path}"}

    def step_refs(self) -> list[Step]:
        return [self._step]


class DelayedReturn(PipelineVariable):
    """The return value of a ``@step`` function; index it like the value it will be."""

    def __init__(self, step: Step, path: str = "") -> None:
        self._step = step
        self._path = path

    def __getitem__(self, key: str | int) -> DelayedReturn:
        token = f"[{key}]" if isinstance(key, int) else f"['{key}']"
        return DelayedReturn(self._step, self._path + token)

    @property
    def step(self) -> Step:
        return self._step

    @property
    def name(self) -> str:
        return self._step.name

    @property
    def expr(self) -> dict:
        return {"Get": f"Steps.{self._step.name}.Result{self._path}"}

    def step_refs(self) -> list[Step]:
        return [self._step]


class ExecutionVariable(PipelineVariable):
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def expr(self) -> dict:
        return {"Get": f"Execution.{self.name}"}


class ExecutionVariables:
    """Facts about the running execution, as in SageMaker."""

    START_DATETIME = ExecutionVariable("StartDateTime")
    CURRENT_DATETIME = ExecutionVariable("CurrentDateTime")
    PIPELINE_NAME = ExecutionVariable("PipelineName")
    PIPELINE_ARN = ExecutionVariable("PipelineArn")
    PIPELINE_EXECUTION_ID = ExecutionVariable("PipelineExecutionId")
    PIPELINE_EXECUTION_ARN = ExecutionVariable("PipelineExecutionArn")


class Join(PipelineVariable):
    """Concatenate values (pipeline variables or constants) with a separator."""

    def __init__(self, on: str = "", values: list[Any] | None = None) -> None:
        self.on = on
        self.values = list(values or [])

    @property
    def expr(self) -> dict:
        return {"Std:Join": {"On": self.on, "Values": to_json(self.values)}}

    def step_refs(self) -> list[Step]:
        return collect_refs(self.values)


class PropertyFile:
    """A JSON file a processing step writes into one of its outputs, readable by ``JsonGet``."""

    def __init__(self, name: str, output_name: str, path: str) -> None:
        self.name = name
        self.output_name = output_name
        self.path = path

    @property
    def expr(self) -> dict:
        return {"PropertyFileName": self.name, "OutputName": self.output_name,
                "FilePath": self.path}


class JsonGet(PipelineVariable):
    """Read one value out of a step's ``PropertyFile`` (dotted path, ``[i]`` indices)."""

    def __init__(
        self,
        step_name: str | None = None,
        property_file: PropertyFile | str | None = None,
        json_path: str = "",
        step: Step | None = None,
    ) -> None:
        if step is None and step_name is None:
            raise ValueError("JsonGet needs step= (or step_name=)")
        if property_file is None:
            raise ValueError("JsonGet needs property_file=")
        self._step = step
        self._step_name = step_name
        self.property_file = property_file
        self.json_path = json_path

    @property
    def step_name(self) -> str:
        return self._step.name if self._step is not None else str(self._step_name)

    @property
    def expr(self) -> dict:
        pf = self.property_file if isinstance(self.property_file, str) else self.property_file.name
        return {"Std:JsonGet": {
            "PropertyFile": {"Get": f"Steps.{self.step_name}.PropertyFiles.{pf}"},
            "Path": self.json_path,
        }}

    def step_refs(self) -> list[Step]:
        return [self._step] if self._step is not None else []
