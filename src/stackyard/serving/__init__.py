"""SERVE: real-time endpoints with variants, shadows, bandits and data capture.

The public names load on first use (PEP 562): ``Predictor`` pulls in httpx and numpy,
which ``stackyard endpoints list`` has no use for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackyard.serving._control import (
        create_endpoint,
        delete_endpoint,
        describe_endpoint,
        list_endpoints,
        start_endpoint,
        update_endpoint,
    )
    from stackyard.serving._predictor import DataCaptureConfig, Predictor
    from stackyard.serving._serde import (
        BaseDeserializer,
        BaseSerializer,
        CSVDeserializer,
        CSVSerializer,
        JSONDeserializer,
        JSONSerializer,
        NumpyDeserializer,
        NumpySerializer,
    )

_WHERE = {"Predictor": "_predictor", "DataCaptureConfig": "_predictor",
          **dict.fromkeys(["BaseDeserializer", "BaseSerializer", "CSVDeserializer",
                           "CSVSerializer", "JSONDeserializer", "JSONSerializer",
                           "NumpyDeserializer", "NumpySerializer"], "_serde"),
          "create_endpoint": "_control", "delete_endpoint": "_control",
          "describe_endpoint": "_control",
          "list_endpoints": "_control", "start_endpoint": "_control",
          "update_endpoint": "_control"}
__all__ = [
    "BaseDeserializer",
    "BaseSerializer",
    "CSVDeserializer",
    "CSVSerializer",
    "DataCaptureConfig",
    "JSONDeserializer",
    "JSONSerializer",
    "NumpyDeserializer",
    "NumpySerializer",
    "Predictor",
    "create_endpoint",
    "delete_endpoint",
    "describe_endpoint",
    "list_endpoints",
    "start_endpoint",
    "update_endpoint",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
