"""The connection every domain mixin shares: one SQLite file in WAL mode.

Why SQLite: it gives us durable, atomic transitions with no server, and WAL lets many
readers (CLI, other runs) proceed while one runner writes. Every method commits before it
returns, so a caller can rely on "written, then acted upon". The domain mixins
(``_runs``, ``_tuning``, ...) speak only their own tables through ``tx``/``_q``/``_one``.
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

from stackyard.store._migrations import MIGRATIONS


def decode(row: dict[str, Any], *keys: str, empty: Any = None) -> dict[str, Any]:
    """Parse the JSON columns ``keys`` of ``row`` in place (NULL/empty becomes ``empty``)."""
    for k in keys:
        row[k] = json.loads(row[k]) if row.get(k) else empty
    return row


def assignments(fields: dict[str, Any]) -> str:
    """``a=?, b=?`` for an UPDATE. Column names come from our own keyword arguments, never
    from user input; values always travel as parameters."""
    return ", ".join(f"{k}=?" for k in fields)


class Base:
    """Connection, lock, transactions and the migrations hook."""

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
            r = self._conn.execute(sql, args).fetchone()
            return dict(r) if r is not None else None

    def _migrate(self) -> None:
        with self.tx() as c:
            have = c.execute("PRAGMA user_version").fetchone()[0]
            for i, script in enumerate(MIGRATIONS[have:], start=have + 1):
                for stmt in script.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version={i}")
