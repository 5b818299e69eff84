"""Store methods for callback steps: each attempt's token, which is also its message on a
local durable queue (migration 9).

One row is the token and the message at once, so "record the token, then enqueue" cannot
be torn by a kill -9: ``open_callback`` creates both in one transaction, or returns the row
an earlier runner of the same attempt created. ``receive_callbacks`` hands messages out as
SQS's ReceiveMessage does (a received message is invisible for the visibility timeout),
and an answer is one conditional UPDATE, so two answers cannot both count.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from stackyard.store._base import Base, decode

WAITING = "Executing"


class CallbacksMixin(Base):
    def open_callback(self, run_id: str, step: str, n: int, row: dict[str, Any]
                      ) -> dict[str, Any]:
        """The callback of attempt ``n`` of ``step``: the one stored, else ``row`` (token,
        queue, body, output_types, deadline) stored now, exactly once."""
        with self.tx() as c:
            old = c.execute("SELECT token FROM callbacks WHERE run_id=? AND step=? AND n=?",
                            (run_id, step, n)).fetchone()
            if old is None:
                c.execute(
                    "INSERT INTO callbacks(token, queue, run_id, step, n, body, output_types, "
                    "status, created_at, deadline) VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (row["token"], row["queue"], run_id, step, n,
                     json.dumps(row["body"], sort_keys=True),
                     json.dumps(row["output_types"]), WAITING, time.time(), row["deadline"]))
            token = row["token"] if old is None else old[0]
        got = self.get_callback(token)
        assert got is not None
        return got

    def get_callback(self, token: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM callbacks WHERE token=?", (token,))
        return None if r is None else decode(r, "body", "output_types", "outputs")

    def list_callbacks(self, waiting_only: bool = False, queue: str | None = None,
                       run_id: str | None = None) -> list[dict[str, Any]]:
        """Callbacks newest first (only those still waiting for an answer, of one queue or
        of one run, if asked)."""
        where, args = [], []
        if run_id is not None:
            where.append("run_id=?")
            args.append(run_id)
        if waiting_only:
            where.append("status=?")
            args.append(WAITING)
        if queue is not None:
            where.append("queue=?")
            args.append(queue)
        sql = "SELECT * FROM callbacks" + (f" WHERE {' AND '.join(where)}" if where else "")
        return [decode(r, "body", "output_types", "outputs")
                for r in self._q(sql + " ORDER BY created_at DESC", tuple(args))]

    def receive_callbacks(self, queue: str, limit: int, visibility: float
                          ) -> list[dict[str, Any]]:
        """Up to ``limit`` waiting messages of ``queue`` not received within their
        visibility timeout, oldest first; each becomes invisible for ``visibility`` s."""
        now = time.time()
        with self.tx() as c:
            tokens = [r[0] for r in c.execute(
                "SELECT token FROM callbacks WHERE queue=? AND status=? AND visible_at<=? "
                "AND deadline>? ORDER BY created_at LIMIT ?",
                (queue, WAITING, now, now, limit)).fetchall()]
            receipts = {}
            for t in tokens:
                receipts[t] = uuid.uuid4().hex
                c.execute("UPDATE callbacks SET visible_at=?, receives=receives+1 "
                          "WHERE token=?", (now + visibility, t))
        rows = [self.get_callback(t) for t in tokens]
        return [{**r, "receipt": receipts[r["token"]]} for r in rows if r is not None]

    def answer_callback(self, token: str, status: str, outputs: dict[str, Any] | None,
                        reason: str | None) -> tuple[dict[str, Any] | None, bool]:
        """Record an answer (``Succeeded``/``Failed``, or ``Timeout``/``Stopped`` from the
        step) if the token is still waiting and not past its deadline (``Timeout`` only
        once it is); returns (the row before, whether this answer counted)."""
        before = self.get_callback(token)
        now = time.time()
        with self.tx() as c:
            late = "deadline<=?" if status == "Timeout" else "deadline>?"
            changed = c.execute(
                f"UPDATE callbacks SET status=?, outputs=?, failure_reason=?, answered_at=? "
                f"WHERE token=? AND status=? AND {late}",
                (status, None if outputs is None else json.dumps(outputs), reason, now,
                 token, WAITING, now)).rowcount
        return before, changed == 1
