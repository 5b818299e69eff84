"""Named models (SageMaker's CreateModel) and what a transform's ``ModelName`` means.

``Model.create()`` records a name for a model artifact and its inference code, both copied
into the content-addressed store with their hashes (as registration does), so a transform
job that names the model later loads exactly those bytes. A ``ModelName`` of the form
``GROUP/VERSION`` means the model registry instead, with its approval rule: a Rejected
version never transforms; a pending one only when the caller allows unapproved versions.
"""

from __future__ import annotations

from typing import Any

from stackyard._checks import check_name, is_model_ref
from stackyard.errors import NotFoundError, UsageError
from stackyard.registry import snapshot_code, store_model
from stackyard.store import open_store


def create_model(request: dict[str, Any]) -> dict[str, Any]:
    """Record the model a CreateModel-shaped request describes (``ModelName``,
    ``PrimaryContainer`` with ``ModelDataUrl``, ``EntryPoint``, ``SourceDir``, ``Image``,
    ``Environment``); returns ``{"ModelName": ...}``. Creating the same model again under
    its name is a no-op (a resumed step); another model under a taken name is refused."""
    name = check_name(request.get("ModelName"), "model")
    container = request.get("PrimaryContainer") or {}
    if not container.get("ModelDataUrl"):
        raise UsageError(f"model {name}: no model_data to create it from")
    artifact, sha = store_model(str(container["ModelDataUrl"]))
    code_uri, entry_point = snapshot_code(container.get("EntryPoint"),
                                          container.get("SourceDir"))
    env = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
    record = {"name": name, "model_data": artifact, "model_sha256": sha,
              "code_uri": code_uri, "entry_point": entry_point,
              "image_uri": container.get("Image"), "environment": env}
    stored = open_store().create_model(name, record)
    if stored != record:
        raise UsageError(f"a different model named {name!r} exists; choose another name")
    return {"ModelName": name}


def resolve_model(model_name: Any, allow_unapproved: bool = False) -> dict[str, Any]:
    """What workers load for ``model_name`` (a created model's name or ``GROUP/VERSION``):
    the stored artifact and its sha256, the code snapshot, the content types it takes and
    answers in, its feature count when known, and its environment."""
    if not isinstance(model_name, str) or not model_name:
        raise UsageError(f"model_name {model_name!r}: name a model made with Model.create() "
                         "or a registered version GROUP/VERSION")
    if is_model_ref(model_name):
        return _registered(model_name, allow_unapproved)
    record = open_store().get_model(check_name(model_name, "model"))
    if record is None:
        raise NotFoundError(f"no model named {model_name!r}; create it with Model.create() "
                            "or name a registered version GROUP/VERSION")
    return {"name": model_name, "artifact": record["model_data"],
            "sha256": record["model_sha256"], "code_uri": record["code_uri"],
            "entry_point": record["entry_point"], "content_types": None,
            "response_types": None, "n_features": None, "environment": record["environment"]}


def _registered(ref: str, allow_unapproved: bool) -> dict[str, Any]:
    from stackyard.registry import ModelRegistry
    from stackyard.serving._fleet import _n_features

    d = ModelRegistry().describe(ref)
    status = d["approval_status"]
    if status == "Rejected":
        raise UsageError(f"{ref} is Rejected and cannot be used for batch transform; name "
                         "an approved version")
    if status == "PendingManualApproval" and not allow_unapproved:
        raise UsageError(f"{ref} is PendingManualApproval; approve it (`stackyard models "
                         f"approve {ref}`) or pass allow_unapproved=True to the Transformer")
    spec = d["inference_spec"]
    return {"name": ref, "artifact": d["model_data"], "sha256": d["model_sha256"],
            "code_uri": spec.get("code_uri"), "entry_point": spec.get("entry_point"),
            "content_types": spec.get("content_types"),
            "response_types": spec.get("response_types"), "n_features": _n_features(d),
            "environment": {}}
