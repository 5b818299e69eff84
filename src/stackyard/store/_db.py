"""A thin typed wrapper over one SQLite file in WAL mode.

Why SQLite: it gives us durable, atomic transitions with no server, and WAL lets many
readers (CLI, other runs) proceed while one runner writes. Every method commits before it
returns, so a caller can rely on "written, then acted upon".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackyard import _home
from stackyard.store._migrations import MIGRATIONS
from stackyard.store._monitor import MonitorStore
from stackyard.store._transform import TransformStore


def _row(r: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(r) if r is not None else None


class Store(MonitorStore, TransformStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # Switching a new database to WAL takes an exclusive lock without waiting on the busy
        # handler: two processes opening a fresh home at once retry instead of failing.
        deadline = time.monotonic() + 30
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._migrate()
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue up instead of failing mid-way."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _q(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, args).fetchall()]

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        with self._lock:
            return _row(self._conn.execute(sql, args).fetchone())

    def _migrate(self) -> None:
        with self.tx() as c:
            have = c.execute("PRAGMA user_version").fetchone()[0]
            for i, script in enumerate(MIGRATIONS[have:], start=have + 1):
                for stmt in script.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version={i}")

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
        self, run_id: str, pipeline: str, version: int, definition: str, parameters: dict
    ) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO runs(run_id, pipeline, version, definition, parameters, status,"
                " start_time) VALUES(?,?,?,?,?,?,?)",
                (run_id, pipeline, version, definition, json.dumps(parameters), "Executing",
                 time.time()),
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if r is not None:
            r["parameters"] = json.loads(r["parameters"])
        return r

    def list_runs(self, pipeline: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT run_id, pipeline, status, start_time, end_time FROM runs"
        args: tuple = ()
        if pipeline:
            sql += " WHERE pipeline=?"
            args = (pipeline,)
        return self._q(sql + " ORDER BY start_time DESC LIMIT ?", (*args, limit))

    def finish_run(self, run_id: str, status: str, failure_reason: str | None = None) -> None:
        with self.tx() as c:
            c.execute(
                "UPDATE runs SET status=?, end_time=?, failure_reason=? WHERE run_id=?",
                (status, time.time(), failure_reason, run_id),
            )

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
        for r in rows:
            r["outputs"] = json.loads(r["outputs"]) if r["outputs"] else {}
            r["arguments"] = json.loads(r["arguments"]) if r.get("arguments") else None
            r["cache_hit"] = bool(r["cache_hit"])
        return rows

    def set_step(self, run_id: str, name: str, **fields: Any) -> None:
        """Update one step row, creating it (which needs a status) the first time."""
        for key in ("outputs", "arguments"):
            if key in fields and not isinstance(fields[key], str | None):
                fields[key] = json.dumps(fields[key], sort_keys=True, default=str)
        with self.tx() as c:
            cur = c.execute(
                f"UPDATE steps SET {', '.join(f'{k}=?' for k in fields)} "
                "WHERE run_id=? AND name=?",
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
        if r is not None:
            r["outputs"] = json.loads(r["outputs"]) if r["outputs"] else {}
        return r

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

    # ---- tuning ------------------------------------------------------------------
    def create_tuning_job(self, name: str, config: dict, request: dict) -> bool:
        """Record a tuning job; False if one of that name already exists (resume it)."""
        with self.tx() as c:
            if c.execute("SELECT 1 FROM tuning_jobs WHERE name=?", (name,)).fetchone():
                return False
            c.execute(
                "INSERT INTO tuning_jobs(name, status, config, request, created_at) "
                "VALUES(?,?,?,?,?)",
                (name, "InProgress", json.dumps(config, sort_keys=True),
                 json.dumps(request, sort_keys=True), time.time()),
            )
            return True

    def get_tuning_job(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM tuning_jobs WHERE name=?", (name,))
        if r is not None:
            r["config"], r["request"] = json.loads(r["config"]), json.loads(r["request"])
        return r

    def list_tuning_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._q(
            "SELECT j.name, j.status, j.created_at, j.end_time, j.best_trial, "
            "(SELECT COUNT(*) FROM trials t WHERE t.tuning_job=j.name) AS trials, "
            "(SELECT objective FROM trials t WHERE t.tuning_job=j.name "
            " AND t.number=j.best_trial) AS best_objective "
            "FROM tuning_jobs j ORDER BY j.created_at DESC LIMIT ?",
            (limit,),
        )

    def set_tuning_job(self, name: str, **fields: Any) -> None:
        with self.tx() as c:
            c.execute(
                f"UPDATE tuning_jobs SET {', '.join(f'{k}=?' for k in fields)} WHERE name=?",
                (*fields.values(), name),
            )

    def add_trial(self, tuning_job: str, number: int, params: dict, job_name: str,
                  job_dir: str) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO trials(tuning_job, number, status, params, job_name,"
                " job_dir, start_time) VALUES(?,?,?,?,?,?,?)",
                (tuning_job, number, "InProgress", json.dumps(params, sort_keys=True), job_name,
                 job_dir, time.time()),
            )

    def set_trial(self, tuning_job: str, number: int, **fields: Any) -> None:
        if "metrics" in fields and not isinstance(fields["metrics"], str | None):
            fields["metrics"] = json.dumps(fields["metrics"], sort_keys=True)
        with self.tx() as c:
            c.execute(
                f"UPDATE trials SET {', '.join(f'{k}=?' for k in fields)} "
                "WHERE tuning_job=? AND number=?",
                (*fields.values(), tuning_job, number),
            )

    def get_trials(self, tuning_job: str) -> list[dict[str, Any]]:
        rows = self._q("SELECT * FROM trials WHERE tuning_job=? ORDER BY number", (tuning_job,))
        for r in rows:
            r["params"] = json.loads(r["params"])
            r["metrics"] = json.loads(r["metrics"]) if r["metrics"] else {}
        return rows

    # ---- model registry --------------------------------------------------------------
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
            c.execute("INSERT INTO events(ts, kind, payload) VALUES(?,?,?)",
                      (now, "model.registered", json.dumps({**event, "version": version,
                                                            "ref": f"{group}/{version}",
                                                            "approval_status": status})))
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
            c.execute("INSERT INTO events(ts, kind, payload) VALUES(?,?,?)",
                      (now, "model.approval", json.dumps(event)))
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
        rows = self._q(sql + " ORDER BY version", args)
        for r in rows:
            r["record"] = json.loads(r["record"])
        return rows

    def get_package(self, group: str, version: int) -> dict[str, Any] | None:
        r = self._one("SELECT grp, version, approval_status, created_at, record FROM "
                      "model_packages WHERE grp=? AND version=?", (group, version))
        if r is not None:
            r["record"] = json.loads(r["record"])
        return r

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
        for r in rows:
            r["action"] = json.loads(r["action"])
        return rows

    def find_producer(self, uri: str) -> dict[str, Any] | None:
        """The most recent succeeded step whose outputs name ``uri``."""
        r = self._one("SELECT s.run_id, s.name FROM steps s WHERE s.status='Succeeded' AND "
                      "s.cache_hit=0 AND instr(s.outputs, ?) > 0 ORDER BY s.end_time DESC "
                      "LIMIT 1", (json.dumps(uri),))
        return r

    # ---- endpoints -----------------------------------------------------------------
    def create_endpoint(self, name: str, config: dict) -> bool:
        now = time.time()
        with self.tx() as c:
            if c.execute("SELECT 1 FROM endpoints WHERE name=?", (name,)).fetchone():
                return False
            c.execute("INSERT INTO endpoints(name, config, status, created_at, updated_at) "
                      "VALUES(?,?,?,?,?)", (name, json.dumps(config), "Creating", now, now))
            return True

    def get_endpoint(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM endpoints WHERE name=?", (name,))
        if r is not None:
            r["config"] = json.loads(r["config"])
            r["deployment"] = json.loads(r["deployment"]) if r["deployment"] else None
        return r

    def list_endpoints(self) -> list[dict[str, Any]]:
        rows = self._q("SELECT * FROM endpoints ORDER BY name")
        for r in rows:
            r["config"] = json.loads(r["config"])
            r["deployment"] = json.loads(r["deployment"]) if r["deployment"] else None
        return rows

    def set_endpoint(self, name: str, **fields: Any) -> None:
        for key in ("config", "deployment"):
            if key in fields and not isinstance(fields[key], str | None):
                fields[key] = json.dumps(fields[key])
        fields["updated_at"] = time.time()
        with self.tx() as c:
            c.execute(f"UPDATE endpoints SET {', '.join(f'{k}=?' for k in fields)} "
                      "WHERE name=?", (*fields.values(), name))

    def start_deployment(self, name: str, deployment: dict) -> int:
        """Bump the endpoint's generation with a new deployment plan; returns it."""
        with self.tx() as c:
            gen = c.execute("SELECT generation FROM endpoints WHERE name=?",
                            (name,)).fetchone()[0] + 1
            c.execute("UPDATE endpoints SET generation=?, deployment=?, status='Updating', "
                      "updated_at=? WHERE name=?",
                      (gen, json.dumps({**deployment, "generation": gen}), time.time(), name))
            return int(gen)

    def delete_endpoint(self, name: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM endpoints WHERE name=?", (name,))

    # ---- events ------------------------------------------------------------------
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
        rows = self._q(sql + " ORDER BY id", args)
        for r in rows:
            r["payload"] = json.loads(r["payload"])
        return rows


_STORES: dict[Path, Store] = {}
_STORES_LOCK = threading.Lock()


def open_store() -> Store:
    """The store of the current ``STACKYARD_HOME`` (one connection per home per process)."""
    path = _home.db_path()
    with _STORES_LOCK:
        s = _STORES.get(path)
        if s is None:
            s = _STORES[path] = Store(path)
        return s
