"""The model-package request (SageMaker's CreateModelPackage shape): the arguments of a
``ModelStep``. Built here for both ``Model.register()`` and ``RegisterModel``; read back by
the registry when the step runs (``stackyard.registry._step``)."""

from __future__ import annotations

from typing import Any

from stackyard._checks import local_path
from stackyard.errors import DefinitionError


def code_paths(entry_point: str | None, source_dir: str | None
               ) -> tuple[str | None, str | None]:
    """(entry point, source dir) as a definition records them: ``source_dir`` absolute
    with the entry point a name inside it, or else the entry point file absolute."""
    if source_dir:
        return entry_point, local_path(source_dir, "source_dir")
    return (local_path(entry_point, "entry_point") if entry_point else None), None


def package_request(
    model_data: Any,
    image_uri: str | None = None,
    entry_point: str | None = None,
    source_dir: str | None = None,
    env: dict[str, str] | None = None,
    content_types: list[str] | None = None,
    response_types: list[str] | None = None,
    model_package_group_name: Any = None,
    approval_status: Any = "PendingManualApproval",
    model_metrics: Any = None,
    drift_check_baselines: Any = None,
    customer_metadata_properties: dict[str, Any] | None = None,
    description: str | None = None,
    sample_payload_url: Any = None,
) -> dict[str, Any]:
    """``model_metrics``/``drift_check_baselines``: objects with ``to_request()``
    (``ModelMetrics``, ``DriftCheckBaselines``). ``sample_payload_url``: a local file (or
    ``file://`` URI) holding one request body in the first content type; endpoints send it
    to health-check the version before they shift traffic to it."""
    if model_package_group_name is None:
        raise DefinitionError("register() needs model_package_group_name=")
    if model_data is None:
        raise DefinitionError("this Model has no model_data to register")
    entry_point, source_dir = code_paths(entry_point, source_dir)
    return {
        "ModelPackageGroupName": model_package_group_name,
        "ModelApprovalStatus": approval_status or "PendingManualApproval",
        "ModelPackageDescription": description,
        "InferenceSpecification": {
            "Containers": [{"Image": image_uri, "ModelDataUrl": model_data,
                            "EntryPoint": entry_point, "SourceDir": source_dir,
                            "Environment": dict(env or {})}],
            "SupportedContentTypes": list(content_types or ["text/csv"]),
            "SupportedResponseMIMETypes": list(response_types or ["text/csv"]),
        },
        "ModelMetrics": model_metrics.to_request() if model_metrics else {},
        "DriftCheckBaselines": drift_check_baselines.to_request()
        if drift_check_baselines else {},
        "CustomerMetadataProperties": dict(customer_metadata_properties or {}),
        "SamplePayloadUrl": sample_payload_url,
    }
