"""``Store``: one class over one connection, composed of one mixin per domain.

Each mixin (a small module) speaks only its own tables; a new domain is one more module
and one more base below. ``open_store()`` hands out one ``Store`` per home per process.
"""

from __future__ import annotations

import threading
from pathlib import Path

from stackyard import _home
from stackyard.store._callbacks import CallbacksMixin
from stackyard.store._endpoints import EndpointsMixin
from stackyard.store._events import EventsMixin
from stackyard.store._monitor import MonitorMixin
from stackyard.store._notify import NotifyMixin
from stackyard.store._registry import RegistryMixin
from stackyard.store._runs import RunsMixin
from stackyard.store._transform import TransformMixin
from stackyard.store._triggers import TriggersMixin
from stackyard.store._tuning import TuningMixin


class Store(
    RunsMixin,
    TuningMixin,
    RegistryMixin,
    EndpointsMixin,
    EventsMixin,
    MonitorMixin,
    TransformMixin,
    CallbacksMixin,
    NotifyMixin,
    TriggersMixin,
):
    """The database of one ``STACKYARD_HOME``: every method commits before it returns."""


_STORES: dict[Path, Store] = {}
_STORES_LOCK = threading.Lock()


def open_store() -> Store:
    """The store of the current ``STACKYARD_HOME`` (one connection per home per process)."""
    path = _home.db_path()
    with _STORES_LOCK:
        s = _STORES.get(path)
        if s is None:
            s = _STORES[path] = Store(path)
        return s
