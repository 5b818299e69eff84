"""The store's monitoring-run methods (table ``monitoring_runs``, migration 6), kept apart
from the other domains so the monitor package owns its SQL in one small place."""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base
from stackyard.store._events import insert_event


class MonitorMixin(Base):
    """Mixed into ``Store``: relies on its ``tx``, ``_q`` and ``_one``."""

    def add_monitoring_run(self, run_id: str, kind: str, job: str, source: str,
                           baseline: str | None, pid: int, pid_start: str | None) -> None:
        with self.tx() as c:  # type: ignore[attr-defined]
            c.execute("INSERT INTO monitoring_runs(run_id, kind, job, source, baseline, status,"
                      " pid, pid_start, created_at) VALUES(?,?,?,?,?,?,?,?,?)",
                      (run_id, kind, job, source, baseline, "InProgress", pid, pid_start,
                       time.time()))

    def finish_monitoring_run(self, run_id: str, status: str, violations: int | None = None,
                              outputs: dict[str, Any] | None = None,
                              failure_reason: str | None = None) -> None:
        """Record how a run ended; only an ``InProgress`` run changes (first writer wins).
        A check that found violations writes its ``drift.detected`` event alongside."""
        with self.tx() as c:  # type: ignore[attr-defined]
            changed = c.execute(
                "UPDATE monitoring_runs SET status=?, violations=?, outputs=?, "
                "failure_reason=?, end_time=? WHERE run_id=? AND status='InProgress'",
                (status, violations, json.dumps(outputs) if outputs else None,
                 failure_reason, time.time(), run_id)).rowcount
            if changed and violations:
                row = c.execute("SELECT kind, source, baseline FROM monitoring_runs WHERE "
                                "run_id=?", (run_id,)).fetchone()
                insert_event(c, "drift.detected", {
                    "monitoring_run": run_id, "check_type": row[0], "source": row[1],
                    "baseline": row[2], "violations": violations, "status": status})

    def get_monitoring_run(self, run_id: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM monitoring_runs WHERE run_id=?", (run_id,))  # type: ignore[attr-defined]
        if r is not None:
            r["outputs"] = json.loads(r["outputs"]) if r["outputs"] else {}
        return r

    def list_monitoring_runs(self, source: str | None = None, limit: int = 100
                             ) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM monitoring_runs", ()
        if source:
            sql, args = sql + " WHERE source=?", (source,)
        rows = self._q(sql + " ORDER BY created_at DESC LIMIT ?", (*args, limit))  # type: ignore[attr-defined]
        for r in rows:
            r["outputs"] = json.loads(r["outputs"]) if r["outputs"] else {}
        return rows
