"""``create_app``: the one place where the server's routers are included.

The JSON API lives under ``/api/...``; its OpenAPI document is ``/openapi.json``, shown at
``/docs`` (Swagger UI) and ``/redoc`` from assets shipped in the ``fastapi-offline`` wheel,
so the docs open with no network. Every error answer is ``{"error": "..."}``: a usage
mistake 400, an unknown thing 404, a state that forbids the request 409 (``ConflictError``),
anything unexpected 500 with an error id that is in the server log (never a traceback).

The web UI mounts its pages here too: add its router below, nowhere else.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from stackyard._checks import json_safe
from stackyard.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    StackyardError,
    UsageError,
)
from stackyard.server import _callbacks, _jobs, _notify, _registry, _runs, _states, _triggers
from stackyard.server._auth import Guard
from stackyard.server._loop import start_loop
from stackyard.ui import mount as mount_ui

log = logging.getLogger("stackyard.server")


class SafeJSON(JSONResponse):
    """JSON answers that are always valid JSON: NaN/inf become ``null`` (a tuning objective
    or a drift distance may be non-finite)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(json_safe(content), ensure_ascii=False, allow_nan=False,
                          default=str, separators=(",", ":")).encode("utf-8")


def error(status: int, message: str, **headers: str) -> SafeJSON:
    return SafeJSON({"error": message}, status_code=status, headers=headers or None)


STATUS = ((NotFoundError, 404), (ConflictError, 409), (UsageError, 400),
          (IntegrityError, 500))


def create_app(*, token: str | None, with_loop: bool = True) -> FastAPI:
    """The server's app. ``token``: required as ``Authorization: Bearer`` on every request
    but health and docs (None: loopback callers only, see ``_auth``). ``with_loop``: run the
    scheduler/rules/notifications loop in a thread while the app is up (off in tests that
    only exercise the API)."""
    draining = threading.Event()   # set when the server is asked to stop: streams end

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        loop = start_loop(stop) if with_loop else None
        app.state.loop_thread = loop
        try:
            yield
        finally:
            draining.set()
            stop.set()
            if loop is not None:
                loop.join(timeout=30)   # the loop releases its leases before it returns

    app = FastAPIOffline(
        title="stackyard", version="1",
        description="The stackyard HTTP API: runs, pipelines, tuning jobs, the model registry, "
                    "endpoints, monitoring, callbacks, state machines, schedules and "
                    "event rules of one STACKYARD_HOME. Send "
                    "`Authorization: Bearer <token>` when the server has a token; requests "
                    "that change something must be `Content-Type: application/json`.",
        lifespan=lifespan, default_response_class=SafeJSON)
    app.state.draining = draining
    app.add_middleware(Guard, token=token)

    @app.exception_handler(StackyardError)
    async def stackyard_error(request: Request, exc: StackyardError) -> Response:
        for kind, status in STATUS:
            if isinstance(exc, kind):
                return error(status, str(exc))
        return _unexpected(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: f"no such path {request.url.path!r}; the API is listed at /docs",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(
            exc.status_code, str(exc.detail))
        return error(exc.status_code, message, **(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}"
                             for e in exc.errors())
        return error(400, f"malformed request: {problems}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return _unexpected(request, exc)

    @app.get("/api/health", tags=["server"], summary="Liveness (no token needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "loop": bool(getattr(app.state, "loop_thread", None))}

    for module in (_runs, _registry, _callbacks, _jobs, _notify, _states, _triggers):
        app.include_router(module.router, prefix="/api")
    mount_ui(app, token)
    return app


def _unexpected(request: Request, exc: BaseException) -> SafeJSON:
    error_id = uuid.uuid4().hex[:12]
    log.error("error %s serving %s %s\n%s", error_id, request.method, request.url.path,
              "".join(traceback.format_exception(exc)))
    return error(500, f"internal error (error id {error_id}; see the server log)",
                 **{"X-Error-Id": error_id})
