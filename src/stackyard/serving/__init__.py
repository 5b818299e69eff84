"""SERVE: real-time endpoints with variants, shadows, bandits and data capture."""

from stackyard.serving._control import (
    create_endpoint,
    delete_endpoint,
    describe_endpoint,
    list_endpoints,
    start_endpoint,
    update_endpoint,
)
from stackyard.serving._predictor import Predictor

__all__ = [
    "Predictor",
    "create_endpoint",
    "delete_endpoint",
    "describe_endpoint",
    "list_endpoints",
    "start_endpoint",
    "update_endpoint",
]
