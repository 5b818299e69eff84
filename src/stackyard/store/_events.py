"""The event log: an append-only feed (``id`` only grows) that readers follow with ``after``.

``insert_event`` is the one way a row gets in: a domain that changes state (a run ends, a
version is registered or approved, a check finds drift) calls it inside its own transaction,
so a reader such as the trigger loop never sees an event for a change that rolled back, nor
misses one that stuck.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from stackyard.store._base import Base, decode


def insert_event(c: sqlite3.Connection, kind: str, payload: dict[str, Any],
                 ts: float | None = None) -> int:
    """Append one event inside the caller's transaction ``c``; returns its id."""
    cur = c.execute("INSERT INTO events(ts, kind, payload) VALUES(?,?,?)",
                    (time.time() if ts is None else ts, kind,
                     json.dumps(payload, sort_keys=True)))
    return int(cur.lastrowid)


def matching_events(c: sqlite3.Connection, kind: str, since: float = 0.0,
                    **match: Any) -> list[dict[str, Any]]:
    """Events of ``kind`` written at or after ``since`` whose payload holds each ``match``
    value (``None`` matches a missing key), oldest first: for a domain's own reads, and for
    its once-only checks inside its transaction ``c``. The keys are the caller's own names;
    keys and values travel as parameters."""
    sql, args = "SELECT * FROM events WHERE kind=? AND ts>=?", [kind, since]
    for key, value in match.items():
        sql += " AND json_extract(payload, ?) IS ?"
        args += [f"$.{key}", value]
    return [decode(dict(r), "payload") for r in c.execute(sql + " ORDER BY id", args)]


class EventsMixin(Base):
    def add_event(self, kind: str, payload: dict[str, Any]) -> int:
        with self.tx() as c:
            return insert_event(c, kind, payload)

    def events(self, kind: str | None = None, after: int = 0,
               limit: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM events WHERE id>?", [after]
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [decode(r, "payload") for r in self._q(sql, tuple(args))]

    def last_event_id(self) -> int:
        r = self._one("SELECT COALESCE(MAX(id), 0) AS n FROM events")
        return int(r["n"]) if r else 0
