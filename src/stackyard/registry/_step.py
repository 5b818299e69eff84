"""Registration from a request: shared by ``Model.register()`` and the pipeline's
``ModelStep``/``RegisterModel`` step type (the engine imports it by name, when a definition
has such a step)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackyard._checks import check_name
from stackyard.engine.steps import StepType
from stackyard.errors import DefinitionError, StepFailed, UsageError
from stackyard.registry._registry import ModelPackage, ModelRegistry

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef
    from stackyard.engine.steps import Attempt

_PROPERTIES = ("ModelPackageArn", "ModelPackageGroupName", "ModelPackageVersion",
               "ModelPackageRef", "ModelApprovalStatus")


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


class RegisterModelStepType(StepType):
    """``ModelStep``/``RegisterModel``: a new version in a model package group."""

    name = "RegisterModel"
    # Never cached (as on SageMaker): a hit would hand back the version a previous run
    # registered, whatever the model holds now.
    cacheable = False

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        """A literal group name is a valid one, and there is a model to register."""
        group = step.arguments.get("ModelPackageGroupName")
        if not isinstance(group, dict):  # an expression is checked when it resolves
            try:
                check_name(group, "model group")
            except UsageError as e:
                raise DefinitionError(f"step {step.name!r}: {e}") from None
        if step.arguments["InferenceSpecification"]["Containers"][0].get("ModelDataUrl") is None:
            raise DefinitionError(f"step {step.name!r}: the model to register has no "
                                  "ModelDataUrl")

    def property_error(self, step: StepDef, tokens: list[str | int]) -> str | None:
        if len(tokens) == 1 and tokens[0] in _PROPERTIES:
            return None
        return super().property_error(step, tokens)

    def execute(self, attempt: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
        try:
            pkg = register_from_request(resolved, attempt.run_id, attempt.step.name,
                                        source_key=f"{attempt.run_id}/{attempt.step.name}")
        except UsageError as e:
            raise StepFailed(str(e), "InputError") from e
        return {"ModelPackageArn": f"stackyard:model-package/{pkg.ref}",
                "ModelPackageGroupName": pkg.group, "ModelPackageVersion": pkg.version,
                "ModelPackageRef": pkg.ref, "ModelApprovalStatus": pkg.approval_status}
