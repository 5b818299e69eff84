"""The event log: an append-only feed (``id`` only grows) that readers follow with ``after``."""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, decode


class EventsMixin(Base):
    def add_event(self, kind: str, payload: dict[str, Any]) -> int:
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO events(ts, kind, payload) VALUES(?,?,?)",
                (time.time(), kind, json.dumps(payload, sort_keys=True)),
            )
            return int(cur.lastrowid)

    def events(self, kind: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM events WHERE id>?", (after,)
        if kind:
            sql, args = sql + " AND kind=?", (after, kind)
        return [decode(r, "payload") for r in self._q(sql + " ORDER BY id", args)]
