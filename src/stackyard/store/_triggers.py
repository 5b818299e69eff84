"""Schedules, event rules, their fire records, the event cursor and leases (migration 11)."""

from __future__ import annotations

from stackyard.store._base import Base


class TriggersMixin(Base):
    """Filled in by the trigger loop's commit."""
