"""The one SQLite database: the only package that speaks SQL."""

from stackyard.store._db import Store, open_store

__all__ = ["Store", "open_store"]
