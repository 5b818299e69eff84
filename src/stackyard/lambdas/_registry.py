"""The local Lambda function registry: functions registered by name, called by Step
Functions tasks (``arn:aws:lambda:...:function:NAME``, ``lambda:invoke``).

Registering snapshots the script into the content-addressed store and records its hash;
every invocation checks that hash before the snapshot is copied into the job, so an
invocation runs exactly the code that was registered (editing the file afterwards changes
nothing until the function is registered again). ``Lambda(...).create()`` and
``.upsert()`` of the SDK register here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackyard import _home, artifacts, runtime
from stackyard._checks import check_name, uri_to_path
from stackyard.errors import NotFoundError, UsageError
from stackyard.lambdas._step import check_function
from stackyard.store import open_store

_EVENT, _RESPONSE, _CODE = ("/opt/ml/input/config/lambda.json", "/opt/ml/output/response.json",
                            "/opt/ml/code")
ARN_PREFIX = "arn:aws:lambda:local:000000000000:function:"


def register_function(name: str, script: str | Path, handler: str, timeout: int = 120,
                      environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Register (or replace) the function ``name``: ``handler`` (``"<script>.<function>"``)
    of ``script``, stopped after ``timeout`` seconds. Returns the stored record."""
    check_name(name, "lambda function")
    path = uri_to_path(str(script))
    fn = check_function({"Script": str(path), "Handler": handler, "Timeout": timeout,
                         "Environment": dict(environment or {})})
    uri = artifacts.put_file(path)
    record = {"FunctionName": name, "FunctionArn": ARN_PREFIX + name,
              "Handler": fn["Handler"], "Timeout": int(fn["Timeout"]),
              "Environment": fn["Environment"], "Source": str(path), "CodeUri": uri,
              "CodeSha256": artifacts.content_hash(uri)}
    open_store().put_lambda_function(name, record)
    return record


def function_name(ref: str) -> str:
    """The name in a function reference: a name, a function ARN (with or without a
    version or alias qualifier), or ``NAME:QUALIFIER``."""
    if ref.startswith("arn:"):
        parts = ref.split(":")
        return parts[6] if len(parts) >= 7 and parts[5] == "function" else ref
    return ref.split(":", 1)[0]


def get_function(ref: str) -> dict[str, Any]:
    """The registered function ``ref`` names; ``NotFoundError`` says how to register it."""
    name = function_name(ref)
    record = open_store().get_lambda_function(name)
    if record is None:
        raise NotFoundError(f"no Lambda function {name!r} is registered; register it with "
                            "Lambda(function_name=..., script=..., handler=...).create()")
    return record


def list_functions() -> list[dict[str, Any]]:
    return open_store().list_lambda_functions()


def delete_function(name: str) -> None:
    if not open_store().delete_lambda_function(name):
        raise NotFoundError(f"no Lambda function {name!r} is registered")


def invocation_spec(record: dict[str, Any], event: Any, request_id: str) -> runtime.JobSpec:
    """The job that calls the function once with ``event``; the registered snapshot is
    checked against its recorded hash first (``IntegrityError`` if it changed)."""
    script = artifacts.verify(record["CodeUri"], record["CodeSha256"])
    return runtime.JobSpec(
        name=request_id, kind="Lambda",
        argv=["python3", "-m", "stackyard.lambdas._invoke", _EVENT, _RESPONSE, _CODE],
        env={**record["Environment"], "STACKYARD_HOME": str(_home.home())},
        cwd=_CODE, inputs=[], outputs={}, code=[(str(script), _CODE)],
        max_runtime=float(record["Timeout"]), config_files={_EVENT: {
            "Event": event, "Handler": record["Handler"], "RequestId": request_id,
            "FunctionName": record["FunctionName"], "FunctionArn": record["FunctionArn"],
            "Timeout": record["Timeout"], "AnyJson": True}})


def response_of(job_dir: Path) -> Any:
    """What the function returned (the job succeeded)."""
    import json

    from stackyard.runtime._job import host_path

    return json.loads(host_path(job_dir, _RESPONSE).read_text())


def error_of(job_dir: Path) -> dict[str, Any] | None:
    """AWS Lambda's error document of a failed invocation (``errorType``,
    ``errorMessage``, ``stackTrace``), or None when the function did not report one (it
    was killed, or timed out)."""
    import json

    from stackyard.runtime._job import host_path

    try:
        return json.loads(host_path(job_dir, "/opt/ml/output/error.json").read_text())
    except (OSError, ValueError, UsageError):
        return None
