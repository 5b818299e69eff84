"""SERVE: real-time endpoints with variants, shadows, bandits and data capture."""

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
