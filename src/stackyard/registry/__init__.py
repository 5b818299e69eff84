"""APPROVE: the model registry (groups, versions, approval, metrics, baselines, lineage)."""

from stackyard.registry._approval import ALLOWED, STATUSES
from stackyard.registry._registry import (
    ModelPackage,
    ModelRegistry,
    extract_model,
    snapshot_code,
    store_model,
)

__all__ = [
    "ALLOWED",
    "STATUSES",
    "ModelPackage",
    "ModelRegistry",
    "extract_model",
    "snapshot_code",
    "store_model",
]
