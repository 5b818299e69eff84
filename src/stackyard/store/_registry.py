"""The model registry: groups, versions, the approval audit trail, subscriptions.

A registration or an approval change writes its ``events`` row in the same transaction, so
a subscriber never sees an event for a change that rolled back (or misses one that stuck).
"""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, decode
from stackyard.store._events import insert_event


class RegistryMixin(Base):
    def register_package(self, group: str, status: str, record: dict, who: str,
                         comment: str | None, event: dict) -> int:
        """Next version of ``group``, its first audit entry and its event: all or nothing.

        BEGIN IMMEDIATE serialises concurrent registrations, so versions have no gaps and
        no duplicates however many processes register at once."""
        now = time.time()
        with self.tx() as c:
            c.execute("INSERT OR IGNORE INTO model_groups(name, created_at) VALUES(?,?)",
                      (group, now))
            version = c.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM model_packages "
                                "WHERE grp=?", (group,)).fetchone()[0]
            record = {**record, "version": version}
            c.execute("INSERT INTO model_packages VALUES(?,?,?,?,?)",
                      (group, version, status, json.dumps(record, sort_keys=True), now))
            c.execute("INSERT INTO approvals(grp, version, from_status, to_status, who, comment,"
                      " ts) VALUES(?,?,?,?,?,?,?)", (group, version, None, status, who, comment,
                                                    now))
            insert_event(c, "model.registered", {**event, "version": version,
                                                 "ref": f"{group}/{version}",
                                                 "approval_status": status}, now)
            return int(version)

    def set_approval(self, group: str, version: int, expected: str, status: str, who: str,
                     comment: str | None, event: dict) -> bool:
        """Compare-and-set the approval status (False if someone changed it meanwhile)."""
        now = time.time()
        with self.tx() as c:
            cur = c.execute("UPDATE model_packages SET approval_status=? WHERE grp=? AND "
                            "version=? AND approval_status=?", (status, group, version,
                                                                expected))
            if cur.rowcount == 0:
                return False
            c.execute("INSERT INTO approvals(grp, version, from_status, to_status, who, comment,"
                      " ts) VALUES(?,?,?,?,?,?,?)", (group, version, expected, status, who,
                                                    comment, now))
            insert_event(c, "model.approval", event, now)
            return True

    def list_groups(self) -> list[dict[str, Any]]:
        return self._q(
            "SELECT g.name, g.created_at, COUNT(p.version) AS versions, "
            "MAX(p.version) AS latest_version, "
            "SUM(p.approval_status='Approved') AS approved "
            "FROM model_groups g LEFT JOIN model_packages p ON p.grp=g.name "
            "GROUP BY g.name ORDER BY g.name")

    def list_packages(self, group: str, status: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT grp, version, approval_status, created_at, record FROM model_packages "
               "WHERE grp=?")
        args: tuple = (group,)
        if status:
            sql, args = sql + " AND approval_status=?", (group, status)
        return [decode(r, "record") for r in self._q(sql + " ORDER BY version", args)]

    def get_package(self, group: str, version: int) -> dict[str, Any] | None:
        r = self._one("SELECT grp, version, approval_status, created_at, record FROM "
                      "model_packages WHERE grp=? AND version=?", (group, version))
        return None if r is None else decode(r, "record")

    def approval_history(self, group: str, version: int) -> list[dict[str, Any]]:
        return self._q("SELECT from_status, to_status, who, comment, ts FROM approvals "
                       "WHERE grp=? AND version=? ORDER BY id", (group, version))

    def group_exists(self, group: str) -> bool:
        return self._one("SELECT 1 AS x FROM model_groups WHERE name=?", (group,)) is not None

    def add_subscription(self, kind: str, group: str, action: dict) -> int:
        with self.tx() as c:
            cur = c.execute("INSERT INTO subscriptions(kind, grp, action, created_at) "
                            "VALUES(?,?,?,?)", (kind, group, json.dumps(action), time.time()))
            return int(cur.lastrowid)

    def subscriptions(self, kind: str, group: str) -> list[dict[str, Any]]:
        rows = self._q("SELECT * FROM subscriptions WHERE kind=? AND grp=? ORDER BY id",
                       (kind, group))
        return [decode(r, "action") for r in rows]
