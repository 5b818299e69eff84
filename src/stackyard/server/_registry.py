"""The model registry: groups, versions, one version's record and lineage, approve/reject
(the caller's name goes into the approval history)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header

from stackyard._checks import check_name
from stackyard.errors import UsageError
from stackyard.registry import STATUSES, ModelRegistry
from stackyard.server import _params as P

router = APIRouter(tags=["registry"])


class Group(P.Open):
    name: str
    versions: int
    latest_version: int | None
    approved: int | None
    created_at: float


class Version(P.Open):
    ref: str
    group: str
    version: int
    approval_status: str
    created_at: float


class VersionRecord(Version):
    model_data: str
    model_sha256: str
    inference_spec: dict[str, Any]
    model_metrics: dict[str, Any]
    drift_check_baselines: dict[str, Any]
    customer_metadata_properties: dict[str, str]
    lineage: dict[str, Any]
    approval_history: list[dict[str, Any]]


class Decision(P.Body):
    comment: str | None = None
    who: str | None = None


def _ref(group: str, version: str) -> str:
    return f"{check_name(group, 'model group')}/{P.integer(version, 'version')}"


@router.get("/models", response_model=list[Group], summary="Model package groups")
def list_groups() -> list[dict[str, Any]]:
    return ModelRegistry().list_groups()


@router.get("/models/{group}", response_model=list[Version],
            summary="Versions of a group, oldest first")
def list_versions(group: str, status: str | None = None) -> list[dict[str, Any]]:
    """``status``: only this approval status (PendingManualApproval, Approved, Rejected)."""
    P.choice(status, "status", STATUSES)
    return [p.summary() for p in ModelRegistry().list_packages(
        check_name(group, "model group"), status)]


@router.get("/models/{group}/latest", response_model=VersionRecord,
            summary="The newest version (approved=true: the newest Approved one)")
def latest(group: str, approved: str | None = None) -> dict[str, Any]:
    reg = ModelRegistry()
    pkg = reg.latest(check_name(group, "model group"),
                     "Approved" if P.flag(approved, "approved") else None)
    return reg.describe(pkg.ref)


@router.get("/models/{group}/{version}", response_model=VersionRecord,
            summary="Everything recorded for GROUP/VERSION")
def describe(group: str, version: str) -> dict[str, Any]:
    return ModelRegistry().describe(_ref(group, version))


@router.get("/models/{group}/{version}/lineage", summary="From data and code to the model")
def lineage(group: str, version: str) -> dict[str, Any]:
    return ModelRegistry().describe(_ref(group, version))["lineage"]


def _decide(group: str, version: str, status: str, body: Decision | None,
            user: str | None) -> dict[str, Any]:
    body = body or Decision()
    if body.comment is not None and len(body.comment) > 10_000:
        raise UsageError("comment: at most 10000 characters")
    reg = ModelRegistry()
    pkg = reg.update_approval(_ref(group, version), status, body.comment,
                              who=P.who(body.who, user))
    return reg.describe(pkg.ref)


@router.post("/models/{group}/{version}/approve", response_model=VersionRecord,
             summary="Approve (subscribed pipelines and rules start)")
def approve(group: str, version: str, body: Decision | None = None,
            x_stackyard_user: str | None = Header(default=None)) -> dict[str, Any]:
    return _decide(group, version, "Approved", body, x_stackyard_user)


@router.post("/models/{group}/{version}/reject", response_model=VersionRecord,
             summary="Reject, or revoke an approval")
def reject(group: str, version: str, body: Decision | None = None,
           x_stackyard_user: str | None = Header(default=None)) -> dict[str, Any]:
    return _decide(group, version, "Rejected", body, x_stackyard_user)
