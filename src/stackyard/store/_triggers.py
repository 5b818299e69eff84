"""Schedules, event rules, their fire records, the event cursor and leases (migration 11).

Exactly once rests on three rules here. A fire is a row before it is a start: a schedule's
due times and its ``next_ms`` move in one transaction (compare-and-set on ``next_ms``), and
a rule's matches and the event cursor likewise, with ``UNIQUE(source, owner, key)`` so no
time or event is recorded twice. A fire starts only through ``claim_fire`` (one conditional
UPDATE ``Pending -> Running``), so of two processes trying to start it exactly one does.
A lease (``acquire_lease``) lets one scheduler at a time do the recording.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, decode

PENDING, RUNNING = "Pending", "Running"
_FIRE_JSON = ("target", "params", "detail")


class TriggersMixin(Base):
    # ---- schedules -------------------------------------------------------------------
    def add_schedule(self, name: str, spec: dict[str, Any], target: dict[str, Any],
                     next_ms: int | None) -> bool:
        """Create schedule ``name`` (enabled); False if the name is taken."""
        now = time.time()
        with self.tx() as c:
            return c.execute(
                "INSERT OR IGNORE INTO schedules(name, spec, target, state, next_ms, "
                "created_at, updated_at) VALUES(?,?,?,?,?,?,?)",
                (name, json.dumps(spec, sort_keys=True), json.dumps(target, sort_keys=True),
                 "ENABLED", next_ms, now, now)).rowcount == 1

    def get_schedule(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM schedules WHERE name=?", (name,))
        return None if r is None else decode(r, "spec", "target")

    def list_schedules(self) -> list[dict[str, Any]]:
        return [decode(r, "spec", "target")
                for r in self._q("SELECT * FROM schedules ORDER BY name")]

    def set_schedule_state(self, name: str, state: str, next_ms: int | None = None,
                           reset_next: bool = False) -> bool:
        """Pause/resume; ``reset_next`` also sets ``next_ms`` (a resume skips the paused
        time instead of catching it up)."""
        with self.tx() as c:
            sql = "UPDATE schedules SET state=?, updated_at=?"
            args: list[Any] = [state, time.time()]
            if reset_next:
                sql += ", next_ms=?"
                args.append(next_ms)
            return c.execute(sql + " WHERE name=?", (*args, name)).rowcount == 1

    def delete_schedule(self, name: str) -> bool:
        """Delete the schedule; its fire records stay (history), fires not yet started are
        marked Skipped."""
        with self.tx() as c:
            c.execute("UPDATE fires SET status='Skipped', reason='schedule deleted', "
                      "ended_at=? WHERE source='schedule' AND owner=? AND status=?",
                      (time.time(), name, PENDING))
            return c.execute("DELETE FROM schedules WHERE name=?", (name,)).rowcount == 1

    def advance_schedule(self, name: str, expected_ms: int | None, next_ms: int | None,
                         fires: list[dict[str, Any]]) -> bool:
        """Record ``fires`` and move ``next_ms`` from ``expected_ms``, all or nothing; False
        (nothing written) if another scheduler moved it first."""
        with self.tx() as c:
            cur = c.execute("UPDATE schedules SET next_ms=? WHERE name=? AND state='ENABLED' "
                            "AND next_ms IS ?", (next_ms, name, expected_ms))
            if cur.rowcount != 1:
                return False
            for f in fires:
                _insert_fire(c, f)
            return True

    # ---- rules -----------------------------------------------------------------------
    def add_rule(self, name: str, event: str, pattern: dict[str, Any], target: dict[str, Any],
                 watch: dict[str, Any] | None) -> bool:
        with self.tx() as c:
            return c.execute(
                "INSERT OR IGNORE INTO rules(name, event, pattern, target, watch, created_at)"
                " VALUES(?,?,?,?,?,?)",
                (name, event, json.dumps(pattern, sort_keys=True),
                 json.dumps(target, sort_keys=True),
                 None if watch is None else json.dumps(watch, sort_keys=True),
                 time.time())).rowcount == 1

    def get_rule(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM rules WHERE name=?", (name,))
        return None if r is None else decode(r, "pattern", "target", "watch")

    def list_rules(self, event: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM rules", ()
        if event is not None:
            sql, args = sql + " WHERE event=?", (event,)
        return [decode(r, "pattern", "target", "watch")
                for r in self._q(sql + " ORDER BY name", args)]

    def delete_rule(self, name: str) -> bool:
        with self.tx() as c:
            c.execute("UPDATE fires SET status='Skipped', reason='rule deleted', ended_at=? "
                      "WHERE source='rule' AND owner=? AND status=?", (time.time(), name,
                                                                         PENDING))
            return c.execute("DELETE FROM rules WHERE name=?", (name,)).rowcount == 1

    # ---- the event cursor --------------------------------------------------------------
    def get_cursor(self, name: str) -> int | None:
        r = self._one("SELECT value FROM cursors WHERE name=?", (name,))
        return None if r is None else int(r["value"])

    def advance_cursor(self, name: str, expected: int | None, value: int,
                       fires: list[dict[str, Any]]) -> bool:
        """Record ``fires`` and move cursor ``name`` from ``expected`` to ``value``, all or
        nothing; False if someone else moved it first."""
        with self.tx() as c:
            if expected is None:
                ok = c.execute("INSERT OR IGNORE INTO cursors(name, value) VALUES(?,?)",
                               (name, value)).rowcount == 1
            else:
                ok = c.execute("UPDATE cursors SET value=? WHERE name=? AND value=?",
                               (value, name, expected)).rowcount == 1
            if not ok:
                return False
            for f in fires:
                _insert_fire(c, f)
            return True

    # ---- fires -----------------------------------------------------------------------
    def add_fire(self, row: dict[str, Any]) -> tuple[int, bool]:
        """Record one fire (e.g. ``schedules trigger``); (its id, whether it is new)."""
        with self.tx() as c:
            new = _insert_fire(c, row)
            fid = c.execute("SELECT id FROM fires WHERE source=? AND owner=? AND key=?",
                            (row["source"], row["owner"], row["key"])).fetchone()[0]
            return int(fid), new

    def get_fire(self, fid: int) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM fires WHERE id=?", (fid,))
        return None if r is None else decode(r, *_FIRE_JSON)

    def list_fires(self, source: str | None = None, owner: str | None = None,
                   status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        where, args = [], []
        for col, val in (("source", source), ("owner", owner), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT * FROM fires" + (f" WHERE {' AND '.join(where)}" if where else "")
        return [decode(r, *_FIRE_JSON)
                for r in self._q(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))]

    def open_fires(self) -> list[dict[str, Any]]:
        """Fires not finished (Pending or Running), oldest first."""
        return [decode(r, *_FIRE_JSON) for r in self._q(
            "SELECT * FROM fires WHERE status IN (?,?) ORDER BY id", (PENDING, RUNNING))]

    def set_fire_launcher(self, fid: int, pid: int, start: str | None) -> None:
        with self.tx() as c:
            c.execute("UPDATE fires SET launcher_pid=?, launcher_start=? WHERE id=? AND "
                      "status=?", (pid, start, fid, PENDING))

    def claim_fire(self, fid: int, pid: int, start: str | None) -> bool:
        """``Pending -> Running`` for the caller; False if someone else has it."""
        with self.tx() as c:
            return c.execute("UPDATE fires SET status=?, pid=?, pid_start=?, started_at=? "
                             "WHERE id=? AND status=?",
                             (RUNNING, pid, start, time.time(), fid, PENDING)).rowcount == 1

    def update_fire_detail(self, fid: int, detail: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute("UPDATE fires SET detail=? WHERE id=?",
                      (json.dumps(detail, sort_keys=True), fid))

    def finish_fire(self, fid: int, status: str, reason: str | None = None,
                    detail: dict[str, Any] | None = None, expected: str = RUNNING) -> bool:
        """End a fire that is still ``expected`` (first writer wins)."""
        with self.tx() as c:
            sql = "UPDATE fires SET status=?, reason=?, ended_at=?"
            args: list[Any] = [status, reason, time.time()]
            if detail is not None:
                sql += ", detail=?"
                args.append(json.dumps(detail, sort_keys=True))
            return c.execute(sql + " WHERE id=? AND status=?",
                             (*args, fid, expected)).rowcount == 1

    def release_fire(self, fid: int, pid: int) -> bool:
        """``Running -> Pending`` again: only for idempotent actions whose claimer died."""
        with self.tx() as c:
            return c.execute("UPDATE fires SET status=?, pid=NULL, pid_start=NULL, "
                             "started_at=NULL WHERE id=? AND status=? AND pid=?",
                             (PENDING, fid, RUNNING, pid)).rowcount == 1

    # ---- leases ----------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, now: float, ttl: float) -> float | None:
        """Hold lease ``name`` until ``now + ttl`` if it is free, expired or already ours;
        returns when the caller's tenure began (None: someone else holds it)."""
        with self.tx() as c:
            r = c.execute("SELECT owner, acquired_at, expires_at FROM leases WHERE name=?",
                          (name,)).fetchone()
            if r is not None and r[0] == owner and r[2] >= now:
                c.execute("UPDATE leases SET expires_at=? WHERE name=?", (now + ttl, name))
                return float(r[1])
            if r is not None and r[2] >= now:
                return None
            c.execute("INSERT OR REPLACE INTO leases(name, owner, acquired_at, expires_at) "
                      "VALUES(?,?,?,?)", (name, owner, now, now + ttl))
            return now

    def release_lease(self, name: str, owner: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM leases WHERE name=? AND owner=?", (name, owner))

    def get_lease(self, name: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM leases WHERE name=?", (name,))


def _insert_fire(c: Any, f: dict[str, Any]) -> bool:
    return c.execute(
        "INSERT OR IGNORE INTO fires(source, owner, key, due_ms, target, params, status, "
        "launcher_pid, launcher_start, detail, reason, created_at, ended_at) "
        "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (f["source"], f["owner"], f["key"], f["due_ms"], json.dumps(f["target"], sort_keys=True),
         json.dumps(f.get("params") or {}, sort_keys=True), f.get("status", PENDING),
         f.get("launcher_pid"), f.get("launcher_start"),
         json.dumps(f.get("detail") or {}, sort_keys=True), f.get("reason"), time.time(),
         None if f.get("status", PENDING) == PENDING else time.time())).rowcount == 1
