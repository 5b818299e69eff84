"""Notification channels and the notifications sent through them (migration 11).

A notification is a row before it is a delivery: ``add_notification`` records it (and, when
the caller delivers it right away, claims it for that caller in the same transaction), so a
kill -9 at any point leaves a row that some later ``claim_notifications`` hands out again.
A claim is a lease (``claimed_until``): two deliverers never hold one notification at once.
``dedupe`` makes recording idempotent for callers that may retry (a rule's action).
"""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, decode

PENDING, DELIVERED, FAILED = "Pending", "Delivered", "Failed"


class NotifyMixin(Base):
    # ---- channels --------------------------------------------------------------------
    def add_channel(self, name: str, kind: str, target: dict[str, Any]) -> bool:
        """Create channel ``name``; False if one of that name exists."""
        with self.tx() as c:
            cur = c.execute("INSERT OR IGNORE INTO notify_channels(name, kind, target, "
                            "created_at) VALUES(?,?,?,?)",
                            (name, kind, json.dumps(target, sort_keys=True), time.time()))
            return cur.rowcount == 1

    def get_channel(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM notify_channels WHERE name=?", (name,))
        return None if r is None else decode(r, "target")

    def list_channels(self) -> list[dict[str, Any]]:
        return [decode(r, "target")
                for r in self._q("SELECT * FROM notify_channels ORDER BY name")]

    def delete_channel(self, name: str) -> bool:
        with self.tx() as c:
            return c.execute("DELETE FROM notify_channels WHERE name=?", (name,)).rowcount == 1

    # ---- notifications ---------------------------------------------------------------
    def add_notification(self, row: dict[str, Any], claim_until: float = 0.0
                         ) -> tuple[dict[str, Any], bool]:
        """Record ``row`` (id, channel, subject, message, event, dedupe, status, reason);
        returns (the stored row, whether it is new). With ``claim_until`` a new row is
        claimed by the caller until then. A row with the same ``dedupe`` is returned as is."""
        now = time.time()
        with self.tx() as c:
            if row.get("dedupe") is not None:
                old = c.execute("SELECT id FROM notifications WHERE dedupe=?",
                                (row["dedupe"],)).fetchone()
                if old is not None:
                    got = self.get_notification(old[0])
                    assert got is not None
                    return got, False
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM notifications").fetchone()[0]
            c.execute(
                "INSERT INTO notifications(id, seq, channel, subject, message, event, dedupe, "
                "status, next_at, claimed_until, last_error, created_at) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                (row["id"], seq, row["channel"], row.get("subject"),
                 json.dumps(row["message"], sort_keys=True),
                 None if row.get("event") is None else json.dumps(row["event"], sort_keys=True),
                 row.get("dedupe"), row.get("status", PENDING), now, claim_until,
                 row.get("reason"), now))
        got = self.get_notification(row["id"])
        assert got is not None
        return got, True

    def get_notification(self, nid: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM notifications WHERE id=?", (nid,))
        return None if r is None else decode(r, "message", "event")

    def list_notifications(self, channel: str | None = None, status: str | None = None,
                           limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        where, args = [], []
        for col, val in (("channel", channel), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT * FROM notifications" + (f" WHERE {' AND '.join(where)}" if where else "")
        return [decode(r, "message", "event") for r in
                self._q(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))]

    def claim_notifications(self, now: float, until: float, limit: int
                            ) -> list[dict[str, Any]]:
        """Pending notifications due by ``now`` and claimed by nobody (or by someone whose
        claim ran out), oldest first; each is claimed by the caller until ``until``."""
        with self.tx() as c:
            ids = [r[0] for r in c.execute(
                "SELECT id FROM notifications WHERE status=? AND next_at<=? AND "
                "claimed_until<=? ORDER BY seq LIMIT ?", (PENDING, now, now, limit))]
            for nid in ids:
                c.execute("UPDATE notifications SET claimed_until=? WHERE id=?", (until, nid))
        return [r for r in map(self.get_notification, ids) if r is not None]

    def finish_delivery(self, nid: str, *, delivered: bool, error: str | None,
                        next_at: float | None) -> None:
        """Record one delivery attempt: delivered, failed for good (``next_at`` None), or
        failed with a retry at ``next_at``. The claim is released."""
        status = DELIVERED if delivered else (FAILED if next_at is None else PENDING)
        with self.tx() as c:
            c.execute("UPDATE notifications SET status=?, attempts=attempts+1, last_error=?, "
                      "next_at=COALESCE(?, next_at), claimed_until=0, delivered_at=? "
                      "WHERE id=? AND status=?",
                      (status, error, next_at, time.time() if delivered else None, nid,
                       PENDING))
