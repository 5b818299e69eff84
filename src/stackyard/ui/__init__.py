"""UI: the web pages of ``stackyard server`` and ``stackyard ui``.

Server-rendered HTML (Jinja2, autoescaped) over the same read functions the JSON API uses;
inline SVG for graphs and charts (``_svg``); one small script for live updates by
server-sent events. Every asset ships in the package: the pages load nothing from elsewhere.
``mount(app, token)`` adds it all to the server's app; ``_session`` holds the sign-in and
CSRF rules the server's guard applies to ``/ui``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackyard.ui._mount import mount

__all__ = ["mount"]


def __getattr__(name: str) -> Any:
    if name != "mount":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from stackyard.ui._mount import mount

    return mount
