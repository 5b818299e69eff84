"""Registration from a request: shared by ``Model.register()`` and the pipeline's
``ModelStep``/``RegisterModel`` (the engine reaches it by name, as a plug-in)."""

from __future__ import annotations

from typing import Any

from stackyard.errors import StepFailed, UsageError
from stackyard.registry._registry import ModelPackage, ModelRegistry


def register_from_request(req: dict[str, Any], run_id: str | None = None,
                          step: str | None = None, source_key: str | None = None
                          ) -> ModelPackage:
    container = req["InferenceSpecification"]["Containers"][0]
    return ModelRegistry().register(
        model_package_group_name=req["ModelPackageGroupName"],
        model_data=container["ModelDataUrl"],
        approval_status=req.get("ModelApprovalStatus") or "PendingManualApproval",
        content_types=req["InferenceSpecification"].get("SupportedContentTypes"),
        response_types=req["InferenceSpecification"].get("SupportedResponseMIMETypes"),
        entry_point=container.get("EntryPoint"), source_dir=container.get("SourceDir"),
        image_uri=container.get("Image"), model_metrics=req.get("ModelMetrics"),
        drift_check_baselines=req.get("DriftCheckBaselines"),
        customer_metadata_properties=req.get("CustomerMetadataProperties"),
        description=req.get("ModelPackageDescription"),
        sample_payload_url=req.get("SamplePayloadUrl"),
        run_id=run_id, step=step, source_key=source_key)


def run_register_step(attempt: Any, resolved: dict[str, Any]) -> dict[str, Any]:
    try:
        pkg = register_from_request(resolved, attempt.run_id, attempt.step.name,
                                    source_key=f"{attempt.run_id}/{attempt.step.name}")
    except UsageError as e:
        raise StepFailed(str(e), "InputError") from e
    return {"ModelPackageArn": f"stackyard:model-package/{pkg.ref}",
            "ModelPackageGroupName": pkg.group, "ModelPackageVersion": pkg.version,
            "ModelPackageRef": pkg.ref, "ModelApprovalStatus": pkg.approval_status}
