"""Schedules and event rules: one list of both, and each one's page with its latest fires
(what each started, linked: a run, an execution, a monitoring check, a notification)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from stackyard._checks import check_name
from stackyard.ui._web import Page, render

router = APIRouter(route_class=Page)
FIRES = 50    # fires shown on a schedule's or rule's page, newest first


@router.get("/schedules")
def schedules(request: Request) -> Any:
    from stackyard import triggers

    return render(request, "schedules.html", schedules=triggers.list_schedules(),
                  rules=triggers.list_rules())


@router.get("/schedules/{name}")
def schedule(request: Request, name: str) -> Any:
    from stackyard import triggers

    row = triggers.describe_schedule(check_name(name, "schedule"), FIRES)
    return render(request, "trigger.html", kind="Schedule", row=row,
                  fires=[_linked(f) for f in row["fires"]])


@router.get("/rules/{name}")
def rule(request: Request, name: str) -> Any:
    from stackyard import triggers

    row = triggers.describe_rule(check_name(name, "rule"), FIRES)
    return render(request, "trigger.html", kind="Rule", row=row,
                  fires=[_linked(f) for f in row["fires"]])


def _linked(fire: dict[str, Any]) -> dict[str, Any]:
    """The fire with ``started``: (text, UI link or None) for what it started."""
    d = fire["detail"] or {}
    started: tuple[str, str | None] = ("", None)
    if d.get("run_id"):
        started = (f"run {d['run_id']}", f"/ui/runs/{d['run_id']}")
    elif d.get("execution"):
        machine, name = str(d["execution"]).split(":")[-2:]
        started = (f"execution {name}", f"/ui/states/{machine}?execution={name}")
    elif d.get("monitoring_run"):
        started = (f"check {d['monitoring_run']}", f"/ui/monitoring/{d['monitoring_run']}")
    elif d.get("notification"):
        started = (f"notification {d['notification']}", None)
    return {**fire, "started": started}
