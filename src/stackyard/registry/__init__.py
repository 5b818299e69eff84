"""APPROVE: the model registry (groups, versions, approval, metrics, baselines, lineage)."""

from stackyard.registry._approval import ALLOWED, STATUSES
from stackyard.registry._registry import ModelPackage, ModelRegistry, parse_ref

__all__ = ["ALLOWED", "STATUSES", "ModelPackage", "ModelRegistry", "parse_ref"]
