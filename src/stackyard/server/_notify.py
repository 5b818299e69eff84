"""Notification channels and the notifications sent through them (``stackyard.notify``).
A webhook's URL is shown by scheme and host only: its path often holds its secret."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stackyard import notify
from stackyard.server import _params as P

router = APIRouter(tags=["notifications"])


class Channel(P.Open):
    name: str
    kind: str
    target: str
    created_at: float


class NewChannel(P.Body):
    name: str
    webhook: str | None = None
    email: str | None = None
    log: bool = False
    smtp: str | None = None


class Notification(P.Open):
    id: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: float


@router.get("/channels", response_model=list[Channel], summary="Notification channels")
def list_channels() -> list[dict[str, Any]]:
    return notify.list_channels()


@router.get("/channels/{name}", response_model=Channel, summary="One channel")
def describe_channel(name: str) -> dict[str, Any]:
    return notify.describe_channel(name)


@router.post("/channels", response_model=Channel, status_code=201,
             summary="Create a channel: exactly one of webhook, email or log")
def create_channel(body: NewChannel) -> dict[str, Any]:
    return notify.create_channel(body.name, webhook=body.webhook, email=body.email,
                                 log=body.log, smtp=body.smtp)


@router.delete("/channels/{name}", summary="Delete a channel")
def delete_channel(name: str) -> dict[str, Any]:
    notify.delete_channel(name)
    return {"name": name, "deleted": True}


@router.get("/notifications", response_model=list[Notification],
            summary="Notifications, newest first, and whether each was delivered")
def list_notifications(channel: str | None = None, status: str | None = None,
                       limit: str | None = None) -> list[dict[str, Any]]:
    """``status``: Pending, Delivered or Failed."""
    return notify.list_notifications(channel, status, P.limit(limit))
