"""The model registry: groups, a group's versions with their metrics side by side, two
versions compared, one version (baseline, lineage, approval history) and the approve /
reject form, recorded with the name the person gives."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from stackyard._checks import check_name, check_person
from stackyard.errors import UsageError
from stackyard.registry import ModelRegistry
from stackyard.ui import _session
from stackyard.ui._web import Page, form, int_arg, render

router = APIRouter(route_class=Page)
SIDE_BY_SIDE = 20


def flat_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a version's metrics documents, by name (``accuracy``, ``rmse``):
    SageMaker's ``{"..._metrics": {"accuracy": {"value": x}}}`` shape and plain JSON.
    Data-quality baselines are not metrics (they have their own section) and are left out."""
    out: dict[str, Any] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            if "value" in v and not isinstance(v["value"], dict | list):
                walk(prefix, v["value"])
                return
            for k, x in v.items():
                name = "" if str(k).endswith("_metrics") else str(k)
                walk(".".join(p for p in (prefix, name) if p), x)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[prefix] = v

    for section, sources in (record.get("model_metrics") or {}).items():
        if section != "ModelDataQuality" and isinstance(sources, dict):
            stats = sources.get("Statistics")
            walk("" if section == "ModelQuality" else section,
                 stats.get("content") if isinstance(stats, dict) else None)
    return out


@router.get("/models")
def groups(request: Request) -> Any:
    return render(request, "models.html", groups=ModelRegistry().list_groups())


@router.get("/models/{group}")
def group(request: Request, group: str) -> Any:
    reg = ModelRegistry()
    versions = reg.list_packages(check_name(group, "model group"))
    records = [reg.describe(p.ref) for p in versions[-SIDE_BY_SIDE:]][::-1]
    metrics = [flat_metrics(r) for r in records]
    names = sorted({k for m in metrics for k in m})
    return render(request, "group.html", group=group, records=records, metrics=metrics,
                  names=names, total=len(versions))


@router.get("/models/{group}/compare")
def compare(request: Request, group: str, a: str | None = None, b: str | None = None) -> Any:
    reg = ModelRegistry()
    check_name(group, "model group")
    if not a or not b:
        raise UsageError("pick two versions to compare (a=N&b=M)")
    left = reg.describe(f"{group}/{int_arg(a, 'a', 1)}")
    right = reg.describe(f"{group}/{int_arg(b, 'b', 1)}")
    ma, mb = flat_metrics(left), flat_metrics(right)
    props = sorted(set(left["customer_metadata_properties"])
                   | set(right["customer_metadata_properties"]))
    return render(request, "compare.html", group=group, left=left, right=right,
                  metrics=sorted(set(ma) | set(mb)), ma=ma, mb=mb, props=props)


@router.get("/models/{group}/{version}")
def version(request: Request, group: str, version: str) -> Any:
    ref = f"{check_name(group, 'model group')}/{int_arg(version, 'version', 1)}"
    record = ModelRegistry().describe(ref)
    return render(request, "version.html", r=record, metrics=flat_metrics(record))


@router.post("/models/{group}/{version}/decide")
async def decide(request: Request, group: str, version: str) -> Any:
    """Approve or reject with a comment; the name given is recorded (``via web UI``) and
    remembered in a cookie for the next form."""
    ref = f"{check_name(group, 'model group')}/{int_arg(version, 'version', 1)}"
    fields = await form(request)
    status = {"approve": "Approved", "reject": "Rejected"}.get(fields.get("decision", ""))
    if status is None:
        raise UsageError("decision: approve or reject")
    name = check_person(fields.get("who") or "", "your name")
    comment = fields.get("comment") or None
    if comment is not None and len(comment) > 10_000:
        raise UsageError("comment: at most 10000 characters")
    await asyncio.to_thread(ModelRegistry().update_approval, ref, status, comment,
                            who=f"{name} (via web UI)")
    response = RedirectResponse(f"/ui/models/{ref}", 303)
    response.set_cookie(_session.USER_COOKIE, name, samesite="strict", httponly=True,
                        path="/ui", max_age=365 * 86400)
    return response
