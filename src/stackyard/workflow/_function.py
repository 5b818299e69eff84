"""``@step``: a plain Python function as a pipeline step.

The function runs inside the engine process (no subprocess), which keeps a step's overhead
to a few milliseconds. The definition names it by file and qualified name; a run stores its
file in the content-addressed store when it starts, and a resumed run (a new process) runs
that snapshot, not the file as edited since. Its source hash is part of the definition, so
editing the function makes a new pipeline version and invalidates its cache entries.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackyard.errors import DefinitionError
from stackyard.workflow._expr import DelayedReturn, PipelineVariable, collect_refs, to_json
from stackyard.workflow._steps import Step


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, PipelineVariable) or value is None or isinstance(
            value, str | int | float | bool):
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check_json(v, where)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise DefinitionError(f"{where}: dict keys must be strings; got {k!r}")
            _check_json(v, where)
        return
    raise DefinitionError(
        f"{where}: {type(value).__name__} values cannot be stored in a pipeline definition; "
        "pass JSON-like constants, parameters or other steps' results"
    )


def function_ref(func: Callable) -> dict[str, str]:
    try:
        source = inspect.getsource(func)
        file = str(Path(inspect.getfile(func)).resolve())
    except (OSError, TypeError):
        source, file = repr(func.__code__.co_code), ""
    return {"Module": func.__module__, "Name": func.__qualname__, "File": file,
            "CodeHash": hashlib.sha256(source.encode()).hexdigest()}


class FunctionStep(Step):
    step_type = "Function"

    def __init__(self, func: Callable, args: tuple, kwargs: dict, options: dict) -> None:
        self.explicit_name = options.get("name") is not None
        super().__init__(
            options.get("name") or func.__name__,
            display_name=options.get("display_name"),
            description=options.get("description"),
            depends_on=options.get("depends_on"),
            retry_policies=options.get("retry_policies"),
            cache_config=options.get("cache_config"),
            on_failure=options.get("on_failure"),
        )
        for i, a in enumerate(args):
            _check_json(a, f"@step {func.__name__} argument {i}")
        for k, a in kwargs.items():
            _check_json(a, f"@step {func.__name__} argument {k!r}")
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.ref = function_ref(func)

    def arguments(self) -> Any:
        return {"Function": self.ref, "Args": list(self.args), "Kwargs": dict(self.kwargs)}

    def linked_steps(self) -> list[Step]:
        return super().linked_steps() + collect_refs([self.args, self.kwargs])


_STEP_OPTIONS = {"name", "display_name", "description", "retry_policies", "cache_config",
                 "depends_on", "on_failure"}


def step(_func: Callable | None = None, **options: Any) -> Any:
    """Decorate a function; calling it then returns a ``DelayedReturn`` to put in a pipeline.

    >>> @step(name="double")
    ... def double(x): return 2 * x
    >>> result = double(21)        # not run yet: a step whose result later steps can take
    """
    aws_only = {"role", "instance_type", "image_uri", "dependencies", "keep_alive_period_in_seconds",
                "sagemaker_session", "environment_variables", "instance_count"}
    unknown = set(options) - _STEP_OPTIONS - aws_only
    if unknown:
        raise TypeError(f"@step got unexpected option(s): {', '.join(sorted(unknown))}")
    options = {k: v for k, v in options.items() if k in _STEP_OPTIONS}

    def deco(func: Callable) -> Callable[..., DelayedReturn]:
        @functools.wraps(func)
        def make(*args: Any, **kwargs: Any) -> DelayedReturn:
            return DelayedReturn(FunctionStep(func, args, kwargs, options))

        make.__stackyard_function__ = func  # type: ignore[attr-defined]
        return make

    return deco(_func) if _func is not None else deco


__all__ = ["FunctionStep", "step", "to_json"]
