"""Who may use the web UI, and proof that a form was sent from one of its own pages.

A browser cannot add ``Authorization: Bearer`` to a link or a form, so on a server with a
token the UI signs a person in once (``/ui/login``, the token pasted in a form) and keeps a
cookie that is *derived* from the token (HMAC, never the token itself): HttpOnly, so page
scripts cannot read it, and SameSite=Strict, so no other site's page sends it. The server's
guard accepts that cookie for the UI's pages and for reads of the JSON API (the live pages
stream logs from it), never for API writes.

Every form the UI posts carries a CSRF token: an HMAC, under a secret of this server
process, of a random per-browser cookie. Another site can make a browser post a form to
``127.0.0.1`` (a loopback server without a token accepts it by address), but it can read
neither the cookie nor the page, so it cannot produce the matching token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "stackyard_ui"
CSRF_COOKIE = "stackyard_csrf"
USER_COOKIE = "stackyard_user"
PREFIX = "/ui"
PUBLIC = frozenset({"/", "/ui/login"})
PUBLIC_PREFIXES = ("/ui/static/",)
_SECRET = secrets.token_bytes(32)   # per process: a restart asks forms to be reloaded


def is_ui(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def is_public(path: str) -> bool:
    """The login page, the redirect at ``/`` and the static assets hold no data."""
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"stackyard-ui-session", hashlib.sha256).hexdigest()


def cookies(header: bytes | str | None) -> dict[str, str]:
    """The request's cookies by name (a malformed header gives none)."""
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header.decode("latin-1") if isinstance(header, bytes) else header)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def signed_in(cookie_header: bytes | None, session: str) -> bool:
    """True when the request carries the session cookie ``session`` (constant time)."""
    given = cookies(cookie_header).get(SESSION_COOKIE, "")
    return hmac.compare_digest(given.encode(), session.encode())


def csrf_token(browser: str) -> str:
    return hmac.new(_SECRET, browser.encode(), hashlib.sha256).hexdigest()


def csrf_ok(browser: str | None, given: str | None) -> bool:
    if not browser or not given:
        return False
    return hmac.compare_digest(csrf_token(browser).encode(), given.encode())


def new_browser_id() -> str:
    return secrets.token_urlsafe(24)
