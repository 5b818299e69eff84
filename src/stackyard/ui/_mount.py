"""``mount(app, token)``: the UI's pages at ``/ui``, its assets at ``/ui/static``, ``/`` sent
to the runs list, and the sign-in page a browser needs on a server with a token."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from stackyard.errors import NotFoundError, UsageError
from stackyard.ui import _models, _ops, _runs, _session, _states, _triggers
from stackyard.ui._web import Page, form, render


def _next(value: str | None) -> str:
    """Where to go after signing in: a UI path of this server, nothing else."""
    if value and _session.is_ui(value) and "//" not in value and "\\" not in value:
        return value
    return "/ui/runs"


def mount(app: FastAPI, token: str | None) -> None:
    pages = APIRouter(route_class=Page, include_in_schema=False)

    @pages.get("/ui")
    @pages.get("/")
    def home() -> Any:
        return RedirectResponse("/ui/runs", 307)

    @pages.get("/ui/login")
    def login(request: Request, next: str | None = None) -> Any:
        return render(request, "login.html", next=_next(next), needed=token is not None)

    @pages.post("/ui/login")
    async def sign_in(request: Request) -> Any:
        fields = await form(request)
        if token is None:
            return RedirectResponse(_next(fields.get("next")), 303)
        if not hmac.compare_digest(fields.get("token", "").strip().encode(), token.encode()):
            raise UsageError("that is not this server's token (the first line of its "
                             "--token-file)")
        response = RedirectResponse(_next(fields.get("next")), 303)
        response.set_cookie(_session.SESSION_COOKIE, _session.session_value(token),
                            httponly=True, samesite="strict", path="/")
        return response

    for module in (_runs, _models, _ops, _states, _triggers):
        pages.include_router(module.router, prefix="/ui")

    @pages.get("/ui/{rest:path}")
    def unknown(rest: str) -> Any:
        raise NotFoundError(f"no page /ui/{rest}; the sections are in the bar above")

    # the assets first: the catch-all above would answer for them otherwise
    app.mount("/ui/static", StaticFiles(packages=[("stackyard.ui", "static")]),
              name="ui-static")
    app.include_router(pages)
