"""``STACKYARD_URL``: the CLI's read commands, and approve/reject, callback answers and run
stop/resume, ask a ``stackyard server`` instead of the local store.

The one seam: each such command asks ``remote()`` first and, when a server is named, gets
the same JSON from its API that the local function returns. ``STACKYARD_TOKEN`` is sent as
the bearer token (never printed or written). The server's ``{"error": ...}`` answers become
the same errors a local call raises: 400/409 a usage error (exit 2), 404 not found (exit 2),
401/403 a usage error saying what to set; a server that cannot be reached exits 1.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from stackyard import _home
from stackyard._checks import check_token, check_url
from stackyard.errors import ConflictError, NotFoundError, StackyardError, UsageError

if TYPE_CHECKING:
    import httpx


def api(*parts: object) -> str:
    """``/api/<parts>`` with each part percent-encoded (names may hold spaces, ``/``...)."""
    return "/api/" + "/".join(quote(str(p), safe="") for p in parts)


class Remote:
    """A client of one server (``STACKYARD_URL``), created only when it is set."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        check_url(url, "STACKYARD_URL")
        parts = urlsplit(url)
        # what messages show: user info (a proxy's password) and the path stay out
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        headers = {"X-Stackyard-User": _user()}
        if token is not None:
            headers["Authorization"] = f"Bearer {check_token(token, 'STACKYARD_TOKEN')}"
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers,
                                   timeout=httpx.Timeout(60.0, connect=10.0))

    def _check(self, r: httpx.Response) -> Any:
        if r.status_code < 400:
            return r.json() if r.headers.get("content-type", "").startswith(
                "application/json") else r.text
        try:
            message = str(r.json()["error"])
        except Exception:  # noqa: BLE001 - not our server's answer: quote its status
            message = f"HTTP {r.status_code} {r.reason_phrase}"
        if r.status_code == 404:
            raise NotFoundError(message)
        if r.status_code == 409:
            raise ConflictError(message)
        if r.status_code in (401, 403):
            raise UsageError(f"the server at {self.url} refused the request ({message}); "
                             "set STACKYARD_TOKEN to its token")
        if r.status_code < 500:
            raise UsageError(message)
        raise StackyardError(f"the server at {self.url} failed: {message}")

    def _send(self, method: str, where: str, **kw: Any) -> Any:
        import httpx

        try:
            return self._check(self.client.request(method, where, **kw))
        except httpx.HTTPError as e:
            raise StackyardError(f"cannot reach STACKYARD_URL={self.url}: {e}") from None

    def get(self, where: str, **params: Any) -> Any:
        return self._send("GET", where, params={k: v for k, v in params.items()
                                                if v is not None})

    def post(self, where: str, body: dict[str, Any] | None = None) -> Any:
        return self._send("POST", where, json=body or {})

    def lines(self, where: str, **params: Any) -> Iterator[str]:
        """A streamed text answer, piece by piece as it arrives."""
        import httpx

        try:
            with self.client.stream("GET", where, timeout=httpx.Timeout(None, connect=10.0),
                                    params={k: v for k, v in params.items()
                                            if v is not None}) as r:
                if r.status_code >= 400:
                    r.read()
                    self._check(r)
                yield from r.iter_text()
        except httpx.HTTPError as e:
            raise StackyardError(f"cannot reach STACKYARD_URL={self.url}: {e}") from None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return f"uid:{os.getuid()}"


def remote() -> Remote | None:
    """The server named by ``STACKYARD_URL``, or None: use the local store."""
    url = _home.server_url()
    return Remote(url, _home.server_token()) if url else None
