"""Step Functions state machines, executions and their history (migration 10).

An execution is driven by threads of control (``execution_threads``): the root path ``""``,
one per ``Parallel`` branch and one per ``Map`` iteration. A thread row says which state
it is in and with what input. ``transition`` appends history events and moves threads in
one transaction, so "the state finished" and "the next state has its input" can never be
torn apart by a kill -9: a resumed driver reads the thread rows and carries on from there,
never rerunning a state whose exit was written.

Task tokens (``.waitForTaskToken``) are one row per task attempt: ``open_token`` creates it
once (or returns the one an earlier driver of the same attempt created), and an answer is
one conditional UPDATE, so two answers cannot both count.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, assignments, decode

Event = tuple[str, str, dict[str, Any] | None]   # (thread path, type, details)
TOKEN_WAITING = "WAITING"


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _thread(row: dict[str, Any]) -> dict[str, Any]:
    return decode(row, "input", "output", "retries")


class StatesMixin(Base):
    # ---- state machines ------------------------------------------------------------
    def upsert_state_machine(self, name: str, definition: str, digest: str,
                             must_exist: bool | None = None) -> int:
        """Store a definition as the machine's newest version (an unchanged one keeps its
        version); ``must_exist`` True refuses a new machine (update), False an existing one
        (create with another definition). Returns the version, or -1 when refused."""
        now = time.time()
        with self.tx() as c:
            last = c.execute("SELECT version, digest FROM state_machine_versions WHERE "
                             "machine=? ORDER BY version DESC LIMIT 1", (name,)).fetchone()
            if (must_exist is True and last is None) or (
                    must_exist is False and last is not None and last["digest"] != digest):
                return -1
            if last is not None and last["digest"] == digest:
                return int(last["version"])
            c.execute("INSERT INTO state_machines(name, created_at, updated_at) "
                      "VALUES(?,?,?) ON CONFLICT(name) DO UPDATE SET "
                      "updated_at=excluded.updated_at", (name, now, now))
            version = 1 if last is None else int(last["version"]) + 1
            c.execute("INSERT INTO state_machine_versions VALUES(?,?,?,?,?)",
                      (name, version, definition, digest, now))
            return version

    def get_state_machine(self, name: str) -> dict[str, Any] | None:
        """The machine with its newest version's definition (text), or None."""
        return self._one(
            "SELECT m.name, m.created_at, m.updated_at, v.version, v.definition, v.digest "
            "FROM state_machines m JOIN state_machine_versions v ON v.machine=m.name "
            "WHERE m.name=? ORDER BY v.version DESC LIMIT 1", (name,))

    def list_state_machines(self) -> list[dict[str, Any]]:
        return self._q(
            "SELECT m.name, m.created_at, m.updated_at, "
            "(SELECT MAX(version) FROM state_machine_versions v WHERE v.machine=m.name) "
            "AS version, (SELECT COUNT(*) FROM executions e WHERE e.machine=m.name) "
            "AS executions FROM state_machines m ORDER BY m.name")

    # ---- executions ----------------------------------------------------------------
    def create_execution(self, row: dict[str, Any], start_state: str,
                         details: dict[str, Any]) -> bool:
        """Record an execution, its root thread at ``start_state`` and its
        ``ExecutionStarted`` event, all or nothing. False when the machine already has an
        execution of that name (nothing written)."""
        with self.tx() as c:
            if c.execute("SELECT 1 FROM executions WHERE machine=? AND name=?",
                         (row["machine"], row["name"])).fetchone():
                return False
            c.execute("INSERT INTO executions(arn, machine, name, version, definition, "
                      "status, input, parent, start_time) VALUES(?,?,?,?,?,?,?,?,?)",
                      (row["arn"], row["machine"], row["name"], row["version"],
                       row["definition"], "RUNNING", row["input"], row.get("parent"),
                       row["start_time"]))
            c.execute("INSERT INTO execution_events VALUES(?,?,?,?,?,?)",
                      (row["arn"], 1, 0, row["start_time"], "ExecutionStarted",
                       _dump(details)))
            c.execute("INSERT INTO execution_threads(execution, path, state, input, status, "
                      "last_event) VALUES(?,?,?,?,?,?)",
                      (row["arn"], "", start_state, row["input"], "RUNNING", 1))
        return True

    def get_execution(self, arn: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM executions WHERE arn=?", (arn,))

    def list_executions(self, machine: str | None = None, status: str | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
        where, args = [], []
        if machine is not None:
            where.append("machine=?")
            args.append(machine)
        if status is not None:
            where.append("status=?")
            args.append(status)
        sql = ("SELECT arn, machine, name, status, start_time, stop_time, parent "
               "FROM executions" + (f" WHERE {' AND '.join(where)}" if where else ""))
        return self._q(sql + " ORDER BY start_time DESC, rowid DESC LIMIT ?",
                       (*args, limit))

    def request_stop_execution(self, arn: str, error: str | None, cause: str | None) -> None:
        """Ask the driver to abort (the request keeps its error and cause)."""
        with self.tx() as c:
            c.execute("UPDATE executions SET stop_requested=1, error=COALESCE(?, error), "
                      "cause=COALESCE(?, cause) WHERE arn=? AND status='RUNNING'",
                      (error, cause, arn))

    def reopen_execution(self, arn: str) -> None:
        """Resume: an aborted execution runs again from where its threads stand."""
        with self.tx() as c:
            c.execute("UPDATE executions SET stop_requested=0, status='RUNNING', "
                      "stop_time=NULL, error=NULL, cause=NULL WHERE arn=?", (arn,))
            c.execute("UPDATE execution_threads SET status='RUNNING' WHERE execution=? "
                      "AND status='ABORTED'", (arn,))

    # ---- history and threads -------------------------------------------------------
    def transition(self, arn: str, events: list[Event] = (),  # type: ignore[assignment]
                   threads: dict[str, dict[str, Any]] | None = None,
                   execution: dict[str, Any] | None = None) -> list[int]:
        """One committed step of an execution: append ``events`` (each one's
        ``previousEventId`` is the last event of its thread), then update (or create, when
        the row has a ``status`` and does not exist) the thread rows and the execution row.
        A thread's ``entered=True`` becomes the id of its last new event (the state it
        enters). Returns the new events' ids."""
        ids: list[int] = []
        with self.tx() as c:
            now = time.time()   # inside the lock: timestamps grow with ids
            last = c.execute("SELECT COALESCE(MAX(id), 0) FROM execution_events WHERE "
                             "execution=?", (arn,)).fetchone()[0]
            previous: dict[str, int] = {}
            rows = []
            for path, kind, details in events:
                if path not in previous:
                    got = c.execute("SELECT last_event FROM execution_threads WHERE "
                                    "execution=? AND path=?", (arn, path)).fetchone()
                    previous[path] = got[0] if got else last
                last += 1
                rows.append((arn, last, previous[path], now, kind,
                             None if details is None else _dump(details)))
                previous[path] = last
                ids.append(last)
            c.executemany("INSERT INTO execution_events VALUES(?,?,?,?,?,?)", rows)
            changes = {p: dict(f) for p, f in (threads or {}).items()}
            for path, event_id in previous.items():
                changes.setdefault(path, {})["last_event"] = event_id
            for path, fields in changes.items():
                if fields.get("entered") is True:   # the thread's newest event: its entry
                    fields["entered"] = previous[path]
                for key in ("input", "output", "retries"):
                    if key in fields:
                        fields[key] = _dump(fields[key])
                if c.execute(f"UPDATE execution_threads SET {assignments(fields)} "
                             "WHERE execution=? AND path=?",
                             (*fields.values(), arn, path)).rowcount == 0 and "status" in fields:
                    fields.setdefault("last_event", last)
                    c.execute(f"INSERT INTO execution_threads(execution, path, "
                              f"{', '.join(fields)}) VALUES(?,?,{', '.join('?' * len(fields))})",
                              (arn, path, *fields.values()))
            if execution:
                c.execute(f"UPDATE executions SET {assignments(execution)} WHERE arn=?",
                          (*execution.values(), arn))
        return ids

    def get_threads(self, arn: str, prefix: str | None = None) -> dict[str, dict[str, Any]]:
        """The threads of an execution by path (only those under ``prefix/`` if given)."""
        if prefix is None:
            rows = self._q("SELECT * FROM execution_threads WHERE execution=?", (arn,))
        else:
            rows = self._q("SELECT * FROM execution_threads WHERE execution=? AND "
                           "substr(path, 1, ?)=?", (arn, len(prefix) + 1, prefix + "/"))
        return {r["path"]: _thread(r) for r in rows}

    def get_thread(self, arn: str, path: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM execution_threads WHERE execution=? AND path=?",
                      (arn, path))
        return None if r is None else _thread(r)

    def get_history(self, arn: str, after: int = 0, limit: int = 1_000_000
                    ) -> list[dict[str, Any]]:
        return [decode(r, "details") for r in self._q(
            "SELECT id, previous_id, ts, type, details FROM execution_events "
            "WHERE execution=? AND id>? ORDER BY id LIMIT ?", (arn, after, limit))]

    # ---- task tokens ---------------------------------------------------------------
    def open_token(self, token: str, arn: str, path: str, attempt: str) -> str:
        """The token of one task attempt: the stored one, else ``token`` stored now."""
        now = time.time()
        with self.tx() as c:
            old = c.execute("SELECT token FROM task_tokens WHERE execution=? AND path=? "
                            "AND attempt=?", (arn, path, attempt)).fetchone()
            if old is not None:
                return str(old[0])
            c.execute("INSERT INTO task_tokens(token, execution, path, attempt, status, "
                      "created_at, heartbeat_at) VALUES(?,?,?,?,?,?,?)",
                      (token, arn, path, attempt, TOKEN_WAITING, now, now))
        return token

    def get_token(self, token: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM task_tokens WHERE token=?", (token,))
        return None if r is None else decode(r, "output")

    def answer_token(self, token: str, status: str, output: Any = None,
                     error: str | None = None, cause: str | None = None) -> bool:
        """Record an answer if the token still waits; True when this answer counted.
        ``HEARTBEAT`` only refreshes the heartbeat time."""
        now = time.time()
        with self.tx() as c:
            if status == "HEARTBEAT":
                return c.execute("UPDATE task_tokens SET heartbeat_at=? WHERE token=? AND "
                                 "status=?", (now, token, TOKEN_WAITING)).rowcount == 1
            return c.execute(
                "UPDATE task_tokens SET status=?, output=?, error=?, cause=?, answered_at=? "
                "WHERE token=? AND status=?",
                (status, None if output is None else _dump(output), error, cause, now,
                 token, TOKEN_WAITING)).rowcount == 1

    # ---- the local Lambda function registry ----------------------------------------
    def put_lambda_function(self, name: str, record: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO lambda_functions VALUES(?,?,?) ON CONFLICT(name) DO "
                      "UPDATE SET record=excluded.record, updated_at=excluded.updated_at",
                      (name, json.dumps(record, sort_keys=True), time.time()))

    def get_lambda_function(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT record FROM lambda_functions WHERE name=?", (name,))
        return None if r is None else json.loads(r["record"])

    def list_lambda_functions(self) -> list[dict[str, Any]]:
        return [json.loads(r["record"]) for r in
                self._q("SELECT record FROM lambda_functions ORDER BY name")]

    def delete_lambda_function(self, name: str) -> bool:
        with self.tx() as c:
            return c.execute("DELETE FROM lambda_functions WHERE name=?",
                             (name,)).rowcount == 1
