"""The one SQLite database: the only package that speaks SQL."""

from stackyard.store._store import Store, open_store

__all__ = ["Store", "open_store"]
