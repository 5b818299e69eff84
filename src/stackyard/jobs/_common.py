"""What processors and estimators share: AWS-only arguments, and pipeline vs. run-now mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackyard._checks import is_remote, uri_to_path
from stackyard.errors import DefinitionError

# Arguments that only mean something on AWS. Accepted so seed code ports by changing
# imports; recorded where useful (instance hints), never acted on.
AWS_ONLY = frozenset({
    "role", "sagemaker_session", "instance_type", "volume_size", "volume_size_in_gb",
    "volume_kms_key", "output_kms_key", "network_config", "tags", "framework_version",
    "py_version", "enable_network_isolation", "use_spot_instances", "max_wait", "subnets",
    "security_group_ids", "checkpoint_s3_uri", "checkpoint_local_path",
    "encrypt_inter_container_traffic", "disable_profiler", "debugger_hook_config",
    "profiler_config", "keep_alive_period_in_seconds", "code_location", "container_log_level",
    "model_uri", "model_channel_name", "input_mode", "enable_sagemaker_metrics",
    "distribution", "instance_groups", "training_repository_access_mode",
    "disable_output_compression", "environment_variables_ignored",
})


def check_kwargs(owner: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop AWS-only arguments; a name we do not know is a typo worth an error."""
    unknown = sorted(set(kwargs) - AWS_ONLY)
    if unknown:
        raise TypeError(f"{owner}() got unexpected argument(s): {', '.join(unknown)}")
    return {k: v for k, v in kwargs.items() if k in ("instance_type",)}


def in_pipeline(session: Any) -> bool:
    return bool(getattr(session, "is_pipeline_session", False))


def local_path(value: str | Path, what: str) -> str:
    """Absolute local path for code the job runs (a ``file://`` URI is percent-decoded);
    code travels with the definition."""
    if is_remote(value):
        raise DefinitionError(f"{what} {value!r}: only local code paths are supported")
    return str(uri_to_path(value))


class JobArgs:
    """What ``processor.run()``/``estimator.fit()`` return inside a pipeline session:
    the job request, to be handed to a step as ``step_args``."""

    def __init__(self, kind: str, request: dict[str, Any], source: Any) -> None:
        self.kind = kind
        self.request = request
        self.source = source
