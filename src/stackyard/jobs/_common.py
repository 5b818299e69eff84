"""What processors and estimators share: pipeline vs. run-now mode, pipeline-variable-aware
number checks, and the job request a pipeline session hands to a step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackyard._checks import check_number, is_remote, to_uri, uri_to_path
from stackyard.errors import DefinitionError


def in_pipeline(session: Any) -> bool:
    return bool(getattr(session, "is_pipeline_session", False))


def is_variable(value: Any) -> bool:
    """A pipeline variable (parameter, property, ``Join``...): resolved when the run executes,
    so it is recorded as is and checked then."""
    from stackyard.workflow._expr import PipelineVariable  # workflow imports jobs

    return isinstance(value, PipelineVariable)


def count(value: Any, what: str, lo: int = 1) -> Any:
    """An integer >= ``lo`` where SageMaker takes an int or a pipeline variable
    (``instance_count``, ``max_run``, ``max_jobs``...)."""
    return value if is_variable(value) else check_number(value, what, lo=lo, integer=True)


def local_path(value: str | Path, what: str) -> str:
    """Absolute local path for code the job runs (a ``file://`` URI is percent-decoded);
    code travels with the definition."""
    if is_remote(value):
        raise DefinitionError(f"{what} {value!r}: only local code paths are supported")
    return str(uri_to_path(value))


def destination(value: Any, what: str) -> Any:
    """Where a job publishes (``output_path``, a processing output's ``destination``), as a
    URI. A local one that exists must be a folder: publishing adds files under it (never
    removing any), and finding out only after the job ran would waste the run."""
    if not isinstance(value, str | Path) or "://" in str(value):
        return value
    path = Path(value).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise DefinitionError(f"{what} {value!r} is a file; name a folder to publish into")
    return to_uri(path)


class JobArgs:
    """What ``processor.run()``/``estimator.fit()`` return inside a pipeline session:
    the job request, to be handed to a step as ``step_args``."""

    def __init__(self, kind: str, request: dict[str, Any], source: Any) -> None:
        self.kind = kind
        self.request = request
        self.source = source
