"""What every page shares: the Jinja2 environment (autoescaped), rendering, the HTML error
page, forms (size-limited, CSRF-checked), and the small formatting filters.

Pages read through the same public functions the JSON API and the CLI use (``engine``,
``ModelRegistry``, ``tuning``, ``serving``, ``monitor``), so the UI shows nothing the API
would not, and a page never writes SQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from stackyard._checks import check_name, check_number, check_run_id
from stackyard.errors import ConflictError, NotFoundError, StackyardError, UsageError
from stackyard.ui import _session

MAX_FORM = 64 * 1024
NONE = "\u2013"   # an en dash: the value is not there
STATUS_CLASS = {"Succeeded": "ok", "Completed": "ok", "Approved": "ok", "InService": "ok",
                "Executing": "run", "InProgress": "run", "Pending": "run", "Loading": "run",
                "Shifting": "run", "Creating": "run", "Updating": "run",
                "PendingManualApproval": "run", "Failed": "bad", "Rejected": "bad",
                "CompletedWithViolations": "bad", "RolledBack": "bad", "Stopped": "off",
                "Skipped": "off", "Stopping": "off",
                # state machine executions, schedules and their fires
                "SUCCEEDED": "ok", "RUNNING": "run", "FAILED": "bad", "TIMED_OUT": "bad",
                "ABORTED": "off", "ENABLED": "ok", "PAUSED": "off", "Running": "run"}


def when(t: float | None) -> str:
    if t is None:
        return NONE
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def took(start: float | None, end: float | None) -> str:
    if start is None:
        return NONE
    s = (end if end is not None else time.time()) - start
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def badge(status: str | None) -> Markup:
    s = status or NONE
    return Markup(f'<span class="badge {STATUS_CLASS.get(s, "off")}" data-status="'
                  f'{escape(s)}">{escape(s)}</span>')


def short(path: str | None) -> str:
    """A long path for a table cell: an artifact as ``trees/<12 hex>…/name``, any other
    path as its last two parts."""
    if not path:
        return NONE
    text = str(path)
    if "/artifacts/" in text:
        kind, digest, *rest = text.split("/artifacts/", 1)[1].split("/")
        return "/".join([kind, digest[:12] + "\u2026", *rest])
    parts = text.rstrip("/").split("/")
    return text if len(parts) <= 3 else "\u2026/" + "/".join(parts[-2:])


def number(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return NONE if v is None else str(v)


env = Environment(loader=PackageLoader("stackyard.ui", "templates"),
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  trim_blocks=True, lstrip_blocks=True)
env.filters.update(when=when, badge=badge, number=number, short=short,
                   tojson_pretty=lambda v: json.dumps(v, indent=2, sort_keys=True, default=str))
env.globals.update(took=took, urlencode=urlencode)


def render(request: Request, template: str, status_code: int = 200, **ctx: Any
           ) -> HTMLResponse:
    """The page, with this browser's CSRF token for its forms (a browser id cookie is set
    the first time)."""
    browser = _session.cookies(request.headers.get("cookie")).get(_session.CSRF_COOKIE)
    fresh = browser is None
    browser = browser or _session.new_browser_id()
    user = _session.cookies(request.headers.get("cookie")).get(_session.USER_COOKIE, "")
    html = env.get_template(template).render(
        request=request, path=request.url.path, csrf=_session.csrf_token(browser),
        user=user, **ctx)
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if fresh:
        response.set_cookie(_session.CSRF_COOKIE, browser, httponly=True, samesite="strict",
                            path="/")
    return response


# Pages load only their own script and style; nothing is framed, nothing is sniffed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Page(APIRoute):
    """A UI route: a usage mistake or an unknown thing is an HTML page with the message
    (400/404/409), not the API's JSON error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except StackyardError as e:
                code = 404 if isinstance(e, NotFoundError) else 409 if isinstance(
                    e, ConflictError) else 400 if isinstance(e, UsageError) else None
                if code is None:
                    raise
                return render(request, "error.html", code, message=str(e), code=code)

        return page


async def form(request: Request) -> dict[str, str]:
    """The posted form (URL-encoded, at most 64 KiB), after its CSRF token is checked."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise UsageError(f"the form is larger than {MAX_FORM // 1024} KiB")
    try:
        fields = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                                 max_num_fields=200).items()}
    except (UnicodeDecodeError, ValueError):
        raise UsageError("the form is not URL-encoded UTF-8") from None
    browser = _session.cookies(request.headers.get("cookie")).get(_session.CSRF_COOKIE)
    if not _session.csrf_ok(browser, fields.get("csrf")):
        raise UsageError("this form's security token does not match (an old page, or a "
                         "form from another site); reload the page and send it again")
    return fields


# ---- query values, through the project's one checker ---------------------------------------
def name_arg(value: str | None, kind: str) -> str | None:
    return check_name(value, kind) if value not in (None, "") else None


def run_arg(value: str) -> str:
    return check_run_id(value)


def int_arg(value: str | None, what: str, default: int, lo: int = 1, hi: int = 10**9) -> int:
    if value in (None, ""):
        return default
    return int(check_number(value, what, lo=lo, hi=hi, integer=True))
