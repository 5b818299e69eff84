"""Who may call the server, decided before any route runs.

* **A token** (``--token-file``): every request but the few public paths (health, the
  OpenAPI page and its assets, which hold no data) needs ``Authorization: Bearer <token>``,
  compared in constant time. Binding beyond loopback without one is refused at start.
* **No token** (loopback only): the ``Host`` header must name a loopback address, so a web
  page whose DNS name is rebound to 127.0.0.1 cannot reach the API from a browser.
* **The web UI** (``/ui``, see ``stackyard.ui._session``): a browser signed in at
  ``/ui/login`` carries a cookie derived from the token, good for UI pages and API reads;
  UI forms are not JSON and carry a CSRF token that the UI checks instead.
* **Always**, the UI's own forms aside: a request that changes something
  (POST/PUT/PATCH/DELETE) must be ``Content-Type: application/json``. Browsers send that
  cross-origin only after a CORS preflight, which this server never grants, so no other
  site can make a browser approve a model or answer a callback (CSRF).

A pure ASGI wrapper (the same shape as the endpoint server's ``BearerAuth``): no request
object is built for a refused call, and the token never reaches a log or an answer.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from stackyard._checks import check_token, is_loopback
from stackyard.errors import UsageError
from stackyard.ui import _session as ui

PUBLIC_PATHS = frozenset({"/api/health", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/openapi.json"})
PUBLIC_PREFIXES = ("/static-offline-docs/",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def read_token_file(token_file: str | Path) -> str:
    """The first line of ``token_file``, checked (``_checks.check_token``)."""
    try:
        text = Path(token_file).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--token-file {str(token_file)!r}: cannot read it "
                         f"({getattr(e, 'strerror', None) or e})") from None
    lines = text.splitlines()
    return check_token(lines[0].strip() if lines else "", f"the token in {token_file}")


def server_token(host: str, token_file: str | Path | None) -> str | None:
    """The token the server requires; refuses a host beyond loopback without one."""
    token = read_token_file(token_file) if token_file is not None else None
    if token is None and not is_loopback(host):
        raise UsageError(f"--host {host} accepts connections from other machines: give "
                         "--token-file FILE so only callers with the token are served")
    return token


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _host_is_loopback(host_header: bytes) -> bool:
    """``Host: 127.0.0.1:8300`` / ``localhost`` / ``[::1]:8300``: a loopback name or address."""
    host = host_header.decode("latin-1").strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return is_loopback(host)


def _refuse(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """The checks above, in front of every route (see the module docstring)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token is not None else None
        self.session = ui.session_value(token) if token is not None else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        path, method = scope["path"], scope["method"]
        page = ui.is_ui(path) or path == "/"
        answer: Any = None
        if self.expected is not None:
            given = headers.get(b"authorization", b"")
            if not (is_public(path) or ui.is_public(path)
                    or hmac.compare_digest(given, self.expected)
                    or ((page or method in ("GET", "HEAD"))
                        and ui.signed_in(headers.get(b"cookie"), self.session))):
                answer = RedirectResponse(f"/ui/login?next={quote(path)}", 303) \
                    if page and method == "GET" else \
                    _refuse(401, "this server needs the header Authorization: Bearer "
                                 "<token> (the token in its --token-file)",
                            **{"WWW-Authenticate": "Bearer"})
        elif not _host_is_loopback(headers.get(b"host", b"")):
            answer = _refuse(403, "this server has no token and answers only requests "
                                  "addressed to a loopback host (127.0.0.1, localhost)")
        if answer is None and method in UNSAFE_METHODS and not page:
            kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if kind != b"application/json":
                answer = _refuse(415, f"{scope['method']} needs Content-Type: "
                                      "application/json (send {} when there is nothing to say)")
        if answer is not None:
            return await answer(scope, receive, send)
        return await self.app(scope, receive, send)
