"""What processors and estimators share: pipeline-variable-aware number checks and output
destinations. (The pipeline session and the ``JobArgs`` it hands to steps are the
workflow's: ``stackyard.workflow._session``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackyard._checks import check_number, to_uri
from stackyard.errors import DefinitionError
from stackyard.workflow._expr import PipelineVariable


def is_variable(value: Any) -> bool:
    """A pipeline variable (parameter, property, ``Join``...): resolved when the run executes,
    so it is recorded as is and checked then."""
    return isinstance(value, PipelineVariable)


def count(value: Any, what: str, lo: int = 1) -> Any:
    """An integer >= ``lo`` where SageMaker takes an int or a pipeline variable
    (``instance_count``, ``max_run``, ``max_jobs``...)."""
    return value if is_variable(value) else check_number(value, what, lo=lo, integer=True)


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

