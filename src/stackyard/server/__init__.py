"""The long-running ``stackyard server``: schedules, rules, callback answers, notifications
and the JSON HTTP API over the store.

``create_app(token=..., with_loop=...)`` builds the app (the one place its routers are
included); ``serve(host, port, token_file)`` runs it under uvicorn until SIGTERM. Both load
on first use: ``import stackyard.server`` costs nothing until one is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackyard.server._app import create_app
    from stackyard.server._main import serve

_WHERE = {"create_app": "_app", "serve": "_main"}
__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
