"""Store methods for named models (``Model.create()``) and batch transform jobs.

A mixin of ``Store`` so the SQL stays in the store package while ``_db.py`` keeps its size;
the tables come from migration 6.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from typing import Any, Protocol

from stackyard.store._base import Base


class _Base(Protocol):
    def tx(self) -> AbstractContextManager[Any]: ...
    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None: ...


class TransformMixin(Base):
    # ---- models ------------------------------------------------------------------
    def create_model(self: _Base, name: str, record: dict[str, Any]) -> dict[str, Any]:
        """Record ``name`` unless it exists; returns the record stored under ``name`` (the
        new one, or the earlier one, which the caller compares)."""
        with self.tx() as c:
            row = c.execute("SELECT record FROM models WHERE name=?", (name,)).fetchone()
            if row is not None:
                return json.loads(row[0])
            c.execute("INSERT INTO models(name, record, created_at) VALUES(?,?,?)",
                      (name, json.dumps(record, sort_keys=True), time.time()))
            return record

    def get_model(self: _Base, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT record FROM models WHERE name=?", (name,))
        return None if r is None else json.loads(r["record"])

    # ---- transform jobs ------------------------------------------------------------
    def create_transform_job(self: _Base, name: str, request: dict[str, Any], job_dir: str
                             ) -> bool:
        """Record a new job (``InProgress``); False when the name is taken."""
        with self.tx() as c:
            if c.execute("SELECT 1 FROM transform_jobs WHERE name=?", (name,)).fetchone():
                return False
            c.execute("INSERT INTO transform_jobs(name, request, status, job_dir, created_at) "
                      "VALUES(?,?,?,?,?)", (name, json.dumps(request, sort_keys=True),
                                            "InProgress", job_dir, time.time()))
            return True

    def get_transform_job(self: _Base, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM transform_jobs WHERE name=?", (name,))
        if r is not None:
            r["request"] = json.loads(r["request"])
            r["outputs"] = json.loads(r["outputs"]) if r["outputs"] else None
        return r

    def set_transform_job(self: _Base, name: str, **fields: Any) -> None:
        if "outputs" in fields and fields["outputs"] is not None:
            fields["outputs"] = json.dumps(fields["outputs"], sort_keys=True)
        with self.tx() as c:
            c.execute(f"UPDATE transform_jobs SET {', '.join(f'{k}=?' for k in fields)} "
                      "WHERE name=?", (*fields.values(), name))
