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

from stackyard._checks import KwargRules
from stackyard._imports import plain_name
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
    return {"Module": plain_name(func.__module__), "Name": func.__qualname__, "File": file,
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
        self.environment = dict(options.get("environment_variables") or {})
        self.ref = function_ref(func)

    def arguments(self) -> Any:
        args = {"Function": self.ref, "Args": list(self.args), "Kwargs": dict(self.kwargs)}
        if self.environment:
            args["Environment"] = self.environment
        return args

    def linked_steps(self) -> list[Step]:
        return super().linked_steps() + collect_refs([self.args, self.kwargs,
                                                      self.environment])


# What ``@step`` acts on, and the options that only size or place SageMaker's remote job.
_STEP_OPTIONS = KwargRules(
    frozenset({"name", "display_name", "description", "retry_policies", "cache_config",
               "depends_on", "on_failure", "environment_variables", "dependencies"}),
    frozenset({"role", "instance_type", "instance_count", "image_uri", "sagemaker_session",
               "keep_alive_period_in_seconds", "volume_size", "volume_kms_key", "subnets",
               "security_group_ids", "tags", "encrypt_inter_container_traffic",
               "use_spot_instances", "s3_root_uri", "s3_kms_key", "include_local_workdir",
               "custom_file_filter"}))


def _check_environment(env: Any) -> None:
    if env is None:
        return
    if not isinstance(env, dict) or not all(isinstance(k, str) and k and "=" not in k
                                            and "\x00" not in k for k in env):
        raise DefinitionError("@step environment_variables must be a dict of variable names "
                              f"to values; got {env!r}")
    for k, v in env.items():
        if not isinstance(v, PipelineVariable | str | int | float | bool):
            raise DefinitionError(f"@step environment variable {k!r}: a value must be a "
                                  f"string, a number or a pipeline variable; got {v!r}")


def _check_dependencies(requirements: Any) -> None:
    """``dependencies=`` of a ``@step``: the function runs inside this process, so nothing can
    be installed for it alone. A requirements file whose every line is already satisfied
    here is accepted; otherwise this says what is missing."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    if requirements is None:
        return
    path = Path(str(requirements)).expanduser()
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DefinitionError(f"@step dependencies {str(requirements)!r}: cannot read it ({e})"
                              ) from None
    missing = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement:
            missing.append(f"{text} (stackyard only checks plain requirement lines)")
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{text} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            missing.append(f"{text} (installed: {have})")
    if missing:
        raise DefinitionError(
            f"@step dependencies {str(requirements)!r}: a @step function runs inside the "
            f"pipeline's own process, which lacks {'; '.join(missing)}. Install them there "
            "(pip install -r ...), or run the code as a TrainingStep/ProcessingStep, whose "
            "requirements.txt in source_dir is installed into a venv for the job")


def step(_func: Callable | None = None, **options: Any) -> Any:
    """Decorate a function; calling it then returns a ``DelayedReturn`` to put in a pipeline.

    ``environment_variables`` are set while the function runs (it runs in the pipeline's
    own process, so a @step running at the same time sees them too; they are part of the
    definition, so pass secrets through the parent environment instead). ``dependencies``
    names a requirements file that must already be satisfied in this process.

    >>> @step(name="double")
    ... def double(x): return 2 * x
    >>> result = double(21)        # not run yet: a step whose result later steps can take
    """
    options = _STEP_OPTIONS.check("@step", options)
    _check_environment(options.get("environment_variables"))
    _check_dependencies(options.get("dependencies"))

    def deco(func: Callable) -> Callable[..., DelayedReturn]:
        @functools.wraps(func)
        def make(*args: Any, **kwargs: Any) -> DelayedReturn:
            return DelayedReturn(FunctionStep(func, args, kwargs, options))

        make.__stackyard_function__ = func  # type: ignore[attr-defined]
        return make

    return deco(_func) if _func is not None else deco


__all__ = ["FunctionStep", "step", "to_json"]
