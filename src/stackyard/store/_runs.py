"""Pipelines, their versions, runs, steps, attempts, metrics and the step cache."""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, assignments, decode
from stackyard.store._events import insert_event


def _step(row: dict[str, Any]) -> dict[str, Any]:
    decode(row, "outputs", empty={})
    decode(row, "arguments")
    row["cache_hit"] = bool(row["cache_hit"])
    return row


def _run_filter(pipeline: str | None, status: str | None, since: float | None,
                until: float | None) -> tuple[str, tuple]:
    """A WHERE clause over fixed column names; the values travel as parameters."""
    terms = [(c, v) for c, v in (("pipeline=?", pipeline), ("status=?", status),
                                 ("start_time>=?", since), ("start_time<?", until))
             if v is not None]
    return ((" WHERE " + " AND ".join(c for c, _ in terms)) if terms else "",
            tuple(v for _, v in terms))


class RunsMixin(Base):
    # ---- pipelines ---------------------------------------------------------------
    def upsert_pipeline(self, name: str, definition: str, digest: str) -> int:
        """Store a definition; returns its version (unchanged definitions keep theirs)."""
        now = time.time()
        with self.tx() as c:
            last = c.execute(
                "SELECT version, digest FROM pipeline_versions WHERE pipeline=? "
                "ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if last is not None and last["digest"] == digest:
                return int(last["version"])
            c.execute(
                "INSERT INTO pipelines(name, created_at, updated_at) VALUES(?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET updated_at=excluded.updated_at",
                (name, now, now),
            )
            version = 1 if last is None else int(last["version"]) + 1
            c.execute(
                "INSERT INTO pipeline_versions VALUES(?,?,?,?,?)",
                (name, version, definition, digest, now),
            )
            return version

    def list_pipelines(self) -> list[dict[str, Any]]:
        return self._q(
            "SELECT p.name, p.created_at, p.updated_at, MAX(v.version) AS latest_version, "
            "(SELECT COUNT(*) FROM runs r WHERE r.pipeline=p.name) AS runs "
            "FROM pipelines p JOIN pipeline_versions v ON v.pipeline=p.name "
            "GROUP BY p.name ORDER BY p.name"
        )

    def pipeline_versions(self, name: str) -> list[dict[str, Any]]:
        return self._q(
            "SELECT version, digest, created_at, definition FROM pipeline_versions "
            "WHERE pipeline=? ORDER BY version",
            (name,),
        )

    # ---- runs --------------------------------------------------------------------
    def create_run(
        self, run_id: str, pipeline: str, version: int, definition: str, parameters: dict,
        backend: dict[str, Any] | None = None,
    ) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO runs(run_id, pipeline, version, definition, parameters, status,"
                " start_time, backend) VALUES(?,?,?,?,?,?,?,?)",
                (run_id, pipeline, version, definition, json.dumps(parameters), "Executing",
                 time.time(), None if backend is None else json.dumps(backend)),
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM runs WHERE run_id=?", (run_id,))
        return None if r is None else decode(decode(r, "parameters", empty={}), "backend")

    def set_run_backend(self, run_id: str, backend: dict[str, Any]) -> None:
        """Where the run's new jobs go from now on (a resume told to move it)."""
        with self.tx() as c:
            c.execute("UPDATE runs SET backend=? WHERE run_id=?", (json.dumps(backend), run_id))

    def list_runs(self, pipeline: str | None = None, limit: int = 100, *,
                  status: str | None = None, since: float | None = None,
                  until: float | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Runs newest first, filtered (start time in ``[since, until)``), one page of
        ``limit`` rows after ``offset``."""
        where, args = _run_filter(pipeline, status, since, until)
        return self._q("SELECT run_id, pipeline, status, start_time, end_time FROM runs"
                       f"{where} ORDER BY start_time DESC, run_id DESC LIMIT ? OFFSET ?",
                       (*args, limit, offset))

    def count_runs(self, pipeline: str | None = None, *, status: str | None = None,
                   since: float | None = None, until: float | None = None) -> int:
        where, args = _run_filter(pipeline, status, since, until)
        return int(self._q(f"SELECT COUNT(*) AS n FROM runs{where}", args)[0]["n"])

    def finish_run(self, run_id: str, status: str, failure_reason: str | None = None) -> None:
        """Record how a run ended, and its ``run.<status>`` event in the same transaction
        (event rules react to ``run.succeeded`` / ``run.failed``)."""
        with self.tx() as c:
            c.execute(
                "UPDATE runs SET status=?, end_time=?, failure_reason=? WHERE run_id=?",
                (status, time.time(), failure_reason, run_id),
            )
            row = c.execute("SELECT pipeline, parameters FROM runs WHERE run_id=?",
                            (run_id,)).fetchone()
            if row is not None:
                insert_event(c, f"run.{status.lower()}", {
                    "run_id": run_id, "pipeline": row[0], "status": status,
                    "failure_reason": failure_reason,
                    "parameters": json.loads(row[1]) if row[1] else {}})

    def reopen_run(self, run_id: str) -> None:
        """Resume: a Failed/Stopped run goes back to Executing; its failed steps may rerun."""
        with self.tx() as c:
            c.execute(
                "UPDATE runs SET status='Executing', end_time=NULL, failure_reason=NULL,"
                " stop_requested=0 WHERE run_id=?",
                (run_id,),
            )
            c.execute(
                "DELETE FROM steps WHERE run_id=? AND status IN ('Failed','Stopped')", (run_id,)
            )

    def request_stop(self, run_id: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE runs SET stop_requested=1 WHERE run_id=?", (run_id,))

    def stop_requested(self, run_id: str) -> bool:
        r = self._one("SELECT stop_requested FROM runs WHERE run_id=?", (run_id,))
        return bool(r and r["stop_requested"])

    # ---- steps -------------------------------------------------------------------
    def get_steps(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT * FROM steps WHERE run_id=? ORDER BY COALESCE(start_time, 1e18), name",
            (run_id,),
        )
        return [_step(r) for r in rows]

    def set_step(self, run_id: str, name: str, **fields: Any) -> None:
        """Update one step row, creating it (which needs a status) the first time."""
        for key in ("outputs", "arguments"):
            if key in fields and not isinstance(fields[key], str | None):
                fields[key] = json.dumps(fields[key], sort_keys=True, default=str)
        with self.tx() as c:
            cur = c.execute(
                f"UPDATE steps SET {assignments(fields)} WHERE run_id=? AND name=?",
                (*fields.values(), run_id, name),
            )
            if cur.rowcount == 0:
                cols = ", ".join(fields)
                marks = ", ".join("?" for _ in fields)
                c.execute(f"INSERT INTO steps(run_id, name, {cols}) VALUES(?,?,{marks})",
                          (run_id, name, *fields.values()))

    def find_cached(self, pipeline: str, cache_key: str, newer_than: float) -> dict | None:
        r = self._one(
            "SELECT s.* FROM steps s JOIN runs r ON r.run_id=s.run_id "
            "WHERE s.cache_key=? AND s.status='Succeeded' AND r.pipeline=? AND s.end_time>=? "
            "ORDER BY s.end_time DESC LIMIT 1",
            (cache_key, pipeline, newer_than),
        )
        return None if r is None else decode(r, "outputs", empty={})

    def find_producer(self, uri: str) -> dict[str, Any] | None:
        """The most recent succeeded (not cached) step whose outputs name ``uri``: where
        lineage continues when the registering run did not make the artifact itself."""
        return self._one("SELECT s.run_id, s.name FROM steps s WHERE s.status='Succeeded' AND "
                         "s.cache_hit=0 AND instr(s.outputs, ?) > 0 ORDER BY s.end_time DESC "
                         "LIMIT 1", (json.dumps(uri),))

    # ---- attempts ----------------------------------------------------------------
    def start_attempt(self, run_id: str, step: str, n: int, job_dir: str | None) -> None:
        now = time.time()
        with self.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO attempts(run_id, step, n, status, job_dir, start_time)"
                " VALUES(?,?,?,?,?,?)",
                (run_id, step, n, "Executing", job_dir, now),
            )
            c.execute(
                "UPDATE steps SET status='Executing', attempts=?, "
                "start_time=COALESCE(start_time, ?) WHERE run_id=? AND name=?",
                (n, now, run_id, step),
            )

    def set_attempt_pid(self, run_id: str, step: str, n: int, pid: int, pid_start: str) -> None:
        with self.tx() as c:
            c.execute(
                "UPDATE attempts SET pid=?, pid_start=? WHERE run_id=? AND step=? AND n=?",
                (pid, pid_start, run_id, step, n),
            )

    def finish_attempt(
        self, run_id: str, step: str, n: int, status: str,
        error_type: str | None = None, reason: str | None = None,
    ) -> None:
        with self.tx() as c:
            c.execute(
                "UPDATE attempts SET status=?, end_time=?, error_type=?, reason=? "
                "WHERE run_id=? AND step=? AND n=?",
                (status, time.time(), error_type, reason, run_id, step, n),
            )

    def get_attempts(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        if step is None:
            return self._q("SELECT * FROM attempts WHERE run_id=? ORDER BY start_time", (run_id,))
        return self._q(
            "SELECT * FROM attempts WHERE run_id=? AND step=? ORDER BY n", (run_id, step)
        )

    # ---- metrics -----------------------------------------------------------------
    def put_metrics(
        self, run_id: str, step: str, attempt: int, series: dict[str, list[float]]
    ) -> None:
        with self.tx() as c:
            c.execute(
                "DELETE FROM metrics WHERE run_id=? AND step=? AND attempt=?",
                (run_id, step, attempt),
            )
            c.executemany(
                "INSERT INTO metrics VALUES(?,?,?,?,?,?)",
                [
                    (run_id, step, attempt, name, i, float(v))
                    for name, values in series.items()
                    for i, v in enumerate(values)
                ],
            )

    def get_metrics(self, run_id: str, step: str) -> dict[str, list[float]]:
        rows = self._q(
            "SELECT name, value FROM metrics WHERE run_id=? AND step=? AND attempt="
            "(SELECT MAX(attempt) FROM metrics WHERE run_id=? AND step=?) ORDER BY name, seq",
            (run_id, step, run_id, step),
        )
        out: dict[str, list[float]] = {}
        for r in rows:
            out.setdefault(r["name"], []).append(r["value"])
        return out
